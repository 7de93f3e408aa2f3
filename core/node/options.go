package node

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3"
)

// An Option is one protocol setting of a member under a short name, so a
// person can name a variant of the protocol in one string ("prevote=false,
// read=lease") that is recorded beside a run and repeated by its replay:
// kvsim compare runs the same seeds under two such strings. Each option
// sets one documented field of Config.
type Option struct {
	// Name is the option's key, e.g. "prevote".
	Name string
	// Values says what it takes, e.g. "true|false" or "ticks >= 1".
	Values string
	// About says what it sets, and its default.
	About string
	set   func(c *Config, value string) error
}

// Options lists every member option by name, in a fixed order.
func Options() []Option {
	return []Option{
		{"prevote", "true|false", "raft's PreVote (Config.PreVoteOff); default true",
			boolOption(func(c *Config, v bool) { c.PreVoteOff = !v })},
		{"checkquorum", "true|false", "raft's CheckQuorum (Config.CheckQuorumOff); default true",
			boolOption(func(c *Config, v bool) { c.CheckQuorumOff = !v })},
		{"read", "safe|lease", "how the leader confirms a ReadIndex: a quorum heartbeat round (safe) or its lease (Config.ReadIndexLeaseBased); default safe",
			func(c *Config, v string) error {
				switch v {
				case "safe":
					c.ReadIndexLeaseBased = false
				case "lease":
					c.ReadIndexLeaseBased = true
				default:
					return errors.New("want safe or lease")
				}
				return nil
			}},
		{"send-before-persist", "true|false", "messages and committed results leave before the round's fsync when the caller takes them early (Config.SendAfterPersist); default true",
			boolOption(func(c *Config, v bool) { c.SendAfterPersist = !v })},
		{"stop-handoff", "true|false", "a leader's graceful stop hands its leadership off first (Config.StopHandoffOff); default true",
			boolOption(func(c *Config, v bool) { c.StopHandoffOff = !v })},
		{"election-ticks", "ticks > heartbeat-ticks", "raft's election timeout (Config.ElectionTicks); default 10",
			intOption(1, func(c *Config, v int) { c.ElectionTicks = v })},
		{"heartbeat-ticks", "ticks >= 1", "raft's heartbeat interval (Config.HeartbeatTicks); default 1",
			intOption(1, func(c *Config, v int) { c.HeartbeatTicks = v })},
		{"snapshot-count", "entries >= 1", "entries applied between state snapshots (Config.SnapshotEntries); default 10000, the simulator's 1000",
			intOption(1, func(c *Config, v int) { c.SnapshotEntries = uint64(v) })},
		{"snapshot-catchup", "entries >= 1", "entries kept behind a snapshot for lagging followers (Config.SnapshotCatchUpEntries); default 5000, the simulator's 200",
			intOption(1, func(c *Config, v int) { c.SnapshotCatchUpEntries = uint64(v) })},
		{"snapshot-size-ratio", "ratio >= 1", "a snapshot waits until the log since the last one is 1/ratio of its size (Config.SnapshotSizeRatioMax); default 4",
			intOption(1, func(c *Config, v int) { c.SnapshotSizeRatioMax = v })},
		{"watch-catchup-batch", "events >= 1", "history events one lagging watcher reads per round (Config.WatchCatchUpEventsMax); default 1000",
			intOption(1, func(c *Config, v int) { c.WatchCatchUpEventsMax = v })},
		{"inflight-max", "messages >= 1", "appends in flight per follower (Config.InflightMessagesMax); default 256",
			intOption(1, func(c *Config, v int) { c.InflightMessagesMax = v })},
		{"message-bytes-max", "bytes >= 1", "bytes of one raft append (Config.MessageBytesMax); default 1 MiB",
			intOption(1, func(c *Config, v int) { c.MessageBytesMax = uint64(v) })},
		{"wal-preallocate-bytes", "bytes >= 1|off", "disk space the WAL reserves ahead of its writes (Config.WALPreallocateBytes); default a whole 64 MiB segment, the simulator's 16 KiB",
			func(c *Config, v string) error {
				if v == "off" {
					c.WALPreallocateBytes = -1
					return nil
				}
				b, err := strconv.ParseInt(v, 10, 64)
				if err != nil || b < 1 {
					return errors.New("want a whole number >= 1, or off")
				}
				c.WALPreallocateBytes = b
				return nil
			}},
		{"history-chunk-bytes", "bytes >= 1", "chunk size of the store's history arena, freed whole by compaction (Config.HistoryChunkBytes); default 1 MiB",
			intOption(1, func(c *Config, v int) { c.HistoryChunkBytes = v })},
	}
}

func boolOption(set func(*Config, bool)) func(*Config, string) error {
	return func(c *Config, s string) error {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		set(c, v)
		return nil
	}
}

func intOption(least int, set func(*Config, int)) func(*Config, string) error {
	return func(c *Config, s string) error {
		v, err := strconv.Atoi(s)
		if err != nil || v < least {
			return fmt.Errorf("want a whole number >= %d", least)
		}
		set(c, v)
		return nil
	}
}

// ApplyOptions sets on c the options spec names, "name=value,..." (spaces
// around either are ignored; "" sets nothing), and reports every problem
// at once: an unknown name, a bad value, a name given twice. Cross-field
// rules (election-ticks above heartbeat-ticks, read=lease with
// checkquorum) are Validate's, once defaults are filled.
func ApplyOptions(c *Config, spec string) error {
	pairs, err := parseOptions(spec)
	errs := []error{err}
	opts := Options()
	for _, p := range pairs {
		i := slices.IndexFunc(opts, func(o Option) bool { return o.Name == p[0] })
		if err := opts[i].set(c, p[1]); err != nil {
			errs = append(errs, fmt.Errorf("node: option %s=%q: %w", p[0], p[1], err))
		}
	}
	return errors.Join(errs...)
}

// CanonicalOptions is spec with its pairs in Options order and without
// spaces: two specs that set the same thing read the same. A spec
// ApplyOptions refuses is returned with its error.
func CanonicalOptions(spec string) (string, error) {
	pairs, err := parseOptions(spec)
	if err != nil {
		return "", err
	}
	if err := ApplyOptions(&Config{}, spec); err != nil {
		return "", err
	}
	order := map[string]int{}
	for i, o := range Options() {
		order[o.Name] = i
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return order[a[0]] - order[b[0]] })
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, ","), nil
}

// parseOptions splits spec into known names and their values.
func parseOptions(spec string) ([][2]string, error) {
	var pairs [][2]string
	var errs []error
	seen := map[string]bool{}
	known := Options()
	for field := range strings.SplitSeq(spec, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		name, value, ok := strings.Cut(field, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("node: option %q is not name=value", field))
		case !slices.ContainsFunc(known, func(o Option) bool { return o.Name == name }):
			errs = append(errs, fmt.Errorf("node: unknown option %q (known: %s)", name, optionNames(known)))
		case seen[name]:
			errs = append(errs, fmt.Errorf("node: option %q given twice", name))
		default:
			seen[name] = true
			pairs = append(pairs, [2]string{name, value})
		}
	}
	return pairs, errors.Join(errs...)
}

func optionNames(opts []Option) string {
	names := make([]string, len(opts))
	for i, o := range opts {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}

// readOnlyOption is raft's ReadIndex mode for Config.ReadIndexLeaseBased.
func readOnlyOption(leaseBased bool) raft.ReadOnlyOption {
	if leaseBased {
		return raft.ReadOnlyLeaseBased
	}
	return raft.ReadOnlySafe
}
