package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigOptionsReportEveryProblemAtOnce(t *testing.T) {
	c := ConfigOptions{Names: []string{"latency", "teleport"}, LatencyTotal: -1, Clients1000Conns: 2000, ValuesBytesPerRun: 10,
		Fanout:        FanoutOptions{Watchers: -1, Conns: 0, Puts: fanoutPutsMax + 1, PutInterval: -time.Millisecond, DeliveryTimeout: -1},
		RestartRounds: 0, RestartTimeout: -time.Second}
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid configuration options validated")
	}
	for _, want := range []string{`unknown configuration "teleport"`, "--latency-total", "--clients1000-conns", "--values-bytes-per-run",
		"--fanout-watchers", "--fanout-conns", "--fanout-puts", "--fanout-put-interval", "--fanout-timeout", "--restart-rounds", "--restart-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestConfigOptionsBoundTheFanout(t *testing.T) {
	c := ConfigOptions{Fanout: FanoutOptions{Watchers: 100_000, Puts: 1000, Conns: 100}}
	c.EnsureDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "deliveries") {
		t.Errorf("100,000 watchers × 1,000 puts: %v", err)
	}
	c.Fanout = FanoutOptions{Watchers: 10, Conns: 20}
	c.EnsureDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "more connections than the 10 watchers") {
		t.Errorf("20 connections for 10 watchers: %v", err)
	}
}

func TestVsDefaultsValidateWithEveryConfig(t *testing.T) {
	v := VsOptions{Configs: ConfigOptions{Names: slices.Clone(Configs)}}
	v.EnsureDefaults()
	if err := v.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := v.Configs
	if c.LatencyTotal != 2000 || c.Clients1000Conns != 100 || c.ValuesBytesPerRun != 256<<20 || c.Fanout.Watchers != targetFanoutWatchers ||
		c.Fanout.Conns != 100 || c.Fanout.Puts != 100 || c.Fanout.PutInterval != 50*time.Millisecond || c.RestartRounds != 3 {
		t.Errorf("defaults %+v", c)
	}
	for _, name := range Configs {
		if name != "restart" && len(configRuns[name]) == 0 {
			t.Errorf("configuration %s has no runs", name)
		}
	}
}

func TestParseConfigs(t *testing.T) {
	if got := parseConfigs("none"); got != nil {
		t.Errorf("none: %q", got)
	}
	if got := parseConfigs("latency, restart"); !slices.Equal(got, []string{"latency", "restart"}) {
		t.Errorf("a list: %q", got)
	}
}

func TestValuesRunsAreBoundedInBytes(t *testing.T) {
	for _, tc := range []struct {
		total       int
		bytesPerRun int64
		size, want  int
	}{
		{60000, 256 << 20, valueSize4KiB, 60000},   // --total is the smaller
		{60000, 256 << 20, valueSize64KiB, 4096},   // the byte cap is
		{60000, valueSize64KiB, valueSize64KiB, 1}, // at least one put
		{1, 256 << 20, valueSize4KiB, 1},
	} {
		if got := valuesTotal(tc.total, tc.bytesPerRun, tc.size); got != tc.want {
			t.Errorf("valuesTotal(%d, %d, %d) = %d, want %d", tc.total, tc.bytesPerRun, tc.size, got, tc.want)
		}
	}
}

func TestConfigFlagErrorsExitWithUsageStatus(t *testing.T) {
	for _, args := range [][]string{
		{"vs", "--configs", "latency,teleport"},
		{"vs", "--fanout-watchers", "0"},
		{"vs", "--fanout-put-interval", "0s"},
		{"vs", "--latency-total", "0"},
		{"vs", "--restart-rounds", "0"},
		{"vs", "--values-bytes-per-run", "100"},
		{"vs", "--clients1000-conns", "0"},
	} {
		var stderr strings.Builder
		if code := run(t.Context(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestRestartTargetIsAFollower(t *testing.T) {
	for _, tc := range []struct{ leader, members, want int }{{0, 3, 1}, {2, 3, 0}, {4, 5, 0}, {0, 1, 0}} {
		if got := restartTarget(tc.leader, tc.members); got != tc.want || (tc.members > 1 && got == tc.leader) {
			t.Errorf("leader %d of %d: restart %d, want %d", tc.leader, tc.members, got, tc.want)
		}
	}
}
