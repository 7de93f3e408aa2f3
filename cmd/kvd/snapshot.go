package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/backup"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/lease"
	"github.com/kvdlabs/kvd/core/node"
)

const snapshotUsage = `Usage:
  kvd snapshot restore FILE --name NAME --initial-cluster NAME=URL,... \
      --initial-cluster-token TOKEN --initial-advertise-peer-urls URL --data-dir DIR
  kvd snapshot status FILE [-w simple|table|json]

FILE is a snapshot in etcd's format, as 'etcdctl snapshot save' writes it
from etcd or kvd. restore builds one member's data directory, with a new
cluster's membership, as 'etcdutl snapshot restore' does (its flag names);
run it once per member, each with its own --name. status reports what
'etcdutl snapshot status' does.`

// runSnapshot is "kvd snapshot ...": 0 on success, 2 for bad usage, 1 when
// the snapshot or the restore failed.
func runSnapshot(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, snapshotUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "restore":
		err = snapshotRestore(args[1:], stderr)
	case "status":
		err = snapshotStatus(args[1:], stdout)
	default:
		err = usageError{fmt.Errorf("unknown snapshot command %q (restore, status)", args[0])}
	}
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "kvd snapshot: %v\n\n%s\n", err, snapshotUsage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "kvd snapshot %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line, not in the snapshot.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// parseWithFile parses fs from args whose one positional argument, the
// snapshot file, may come before or after the flags (etcdutl takes it
// first).
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", usageError{err}
	}
	if fs.NArg() > 0 && file == "" {
		file = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return "", usageError{err}
		}
	}
	if fs.NArg() > 0 {
		return "", usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if file == "" {
		return "", usageError{errors.New("no snapshot file given")}
	}
	return file, nil
}

func snapshotStatus(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kvd snapshot status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("w", "simple", "output format: simple, table or json")
	fs.StringVar(format, "write-out", "simple", "output format: simple, table or json")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	if !slices.Contains([]string{"simple", "table", "json"}, *format) {
		return usageError{fmt.Errorf("-w %q: want simple, table or json", *format)}
	}
	st, err := backup.Stat(file)
	if err != nil {
		return err
	}
	row := []string{fmt.Sprintf("%x", st.Hash), fmt.Sprint(st.Revision), fmt.Sprint(st.TotalKey), siBytes(st.TotalSize), st.Version}
	switch *format {
	case "json":
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	case "table":
		printTable(stdout, []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION"}, row)
	default:
		fmt.Fprintln(stdout, strings.Join(row, ", "))
	}
	return nil
}

// siBytes writes a size as etcdutl does (go-humanize's Bytes): decimal
// units, one decimal below 10.
func siBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	v := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[int(e)])
	}
	return fmt.Sprintf("%.0f %s", v, units[int(e)])
}

// printTable prints one row under a header, boxed as etcdutl's table.
func printTable(w io.Writer, hdr, row []string) {
	widths := make([]int, len(hdr))
	for i := range hdr {
		widths[i] = max(len(hdr[i]), len(row[i]))
	}
	line := func() {
		for _, n := range widths {
			fmt.Fprint(w, "+", strings.Repeat("-", n+2))
		}
		fmt.Fprintln(w, "+")
	}
	cells := func(cs []string) {
		for i, c := range cs {
			fmt.Fprintf(w, "| %*s ", widths[i], c)
		}
		fmt.Fprintln(w, "|")
	}
	line()
	cells(hdr)
	line()
	cells(row)
	line()
}

func snapshotRestore(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("kvd snapshot restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{}
	var peerURLs string
	fs.StringVar(&f.name, "name", "default", "human-readable name for this member")
	fs.StringVar(&f.dataDir, "data-dir", "", "path to the data directory to create (default \"${name}.etcd\")")
	fs.StringVar(&f.initialCluster, "initial-cluster", "", "initial cluster: name=peerURL,... (default \"${name}=${initial-advertise-peer-urls}\")")
	fs.StringVar(&f.initialClusterToken, "initial-cluster-token", "etcd-cluster", "initial cluster token, part of member and cluster ids")
	fs.StringVar(&peerURLs, "initial-advertise-peer-urls", "http://localhost:2380", "comma-separated peer URLs of this member")
	file, err := parseWithFile(fs, args)
	if err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return usageError{fmt.Errorf("unknown flag --%s: kvd supports --name, --data-dir, --initial-cluster, --initial-cluster-token and --initial-advertise-peer-urls of etcdutl's", strings.TrimLeft(name, "-"))}
		}
		return err
	}
	f.initialAdvertisePeerURLs = splitURLs(peerURLs)
	f.defaultsFromName()
	members, err := f.cluster()
	if err != nil {
		return usageError{err}
	}
	if urls, ok := members[f.name]; !ok {
		return usageError{fmt.Errorf("--initial-cluster %q has no member named %q (--name)", f.initialCluster, f.name)}
	} else if !slices.Equal(slices.Sorted(slices.Values(urls)), slices.Sorted(slices.Values(f.initialAdvertisePeerURLs))) {
		return usageError{fmt.Errorf("--initial-cluster gives %s the peer URLs %v but --initial-advertise-peer-urls says %v", f.name, urls, f.initialAdvertisePeerURLs)}
	}
	if entries, err := os.ReadDir(f.dataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("data dir %s is not empty: restore builds a new member", f.dataDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data dir %s: %w", f.dataDir, err)
	}

	snap, err := backup.Read(file)
	if err != nil {
		return err
	}

	// The ids and the bootstrap contexts kvd computes when it starts
	// (serve), so the member starts on the restored WAL as its own.
	var ids []uint64
	var selfID uint64
	contexts := map[uint64][]byte{}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		id := api.MemberID(members[name], f.initialClusterToken)
		if _, dup := contexts[id]; dup {
			return usageError{fmt.Errorf("--initial-cluster: members share the peer URLs %v", members[name])}
		}
		contexts[id] = api.MemberInfo{Name: name, PeerURLs: members[name]}.Encode()
		ids = append(ids, id)
		if name == f.name {
			selfID = id
		}
	}
	clusterID := api.ClusterID(ids)
	r := node.Restored{Revision: snap.Revision, CompactRevision: snap.CompactRevision, Versions: snap.Versions, Alarms: snap.Alarms}
	for _, l := range snap.Leases {
		r.Leases = append(r.Leases, lease.Granted{ID: l.ID, TTLSeconds: l.TTLSeconds})
	}

	// Build the data dir under a temporary name beside it and rename it
	// into place: a failure leaves no data dir behind, and kvd never
	// starts on half a restore.
	abs, err := filepath.Abs(f.dataDir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", f.dataDir, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("parent of data dir %s: %w", f.dataDir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(abs), filepath.Base(abs)+".restoring-")
	if err != nil {
		return fmt.Errorf("data dir %s: %w", f.dataDir, err)
	}
	defer os.RemoveAll(tmp) // gone once renamed
	err = node.CreateRestored(node.Config{
		ID: selfID, ClusterID: clusterID, Peers: ids, PeerContexts: contexts,
		FS: disk.OSFS{}, Dir: filepath.Join(tmp, "member"),
	}, r)
	if err != nil {
		return fmt.Errorf("restore %s: %w", file, err)
	}
	os.Remove(abs) // an empty data dir may stand in the way of the rename
	if err := os.Rename(tmp, abs); err != nil {
		return fmt.Errorf("move the restored member into %s: %w", f.dataDir, err)
	}
	if err := (disk.OSFS{}).SyncDir(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("sync the parent of %s: %w", f.dataDir, err)
	}
	fmt.Fprintf(stderr, "kvd: restored %s into %s: revision %d (compacted at %d), %d key versions, %d leases; member %s (%x) of cluster %x with %d members\n",
		file, f.dataDir, snap.Revision, snap.CompactRevision, len(snap.Versions), len(snap.Leases), f.name, selfID, clusterID, len(ids))
	return nil
}
