package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath is the headless Chromium the dashboard test drives; the
// Makefile's browser target installs Debian's chromium there.
func browserPath(t *testing.T) string {
	for _, name := range []string{os.Getenv("KVD_TEST_BROWSER"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (KVD_TEST_BROWSER, chromium, chromium-browser, google-chrome): run `make browser`, or point KVD_TEST_BROWSER at one")
	return ""
}

// TestDashboardInBrowser opens the live dashboard of a 3-member cluster in
// headless Chromium, as a person would: the page shows three members and
// the leader, its ops/s rises while a load runs — pushed by the member,
// the page never reloads —, and a killed member is marked down within a
// few seconds. The screenshots land in the test's artefacts
// (go test -artifacts keeps them).
func TestDashboardInBrowser(t *testing.T) {
	c := startProcCluster(t, 3)
	cli := c.client()
	leader := c.leader(cli, nil)
	// The page is opened on a follower: the view is the cluster's, not
	// the serving member's; and the member killed is the other follower.
	var served, victim *proc
	for _, p := range c.procs {
		switch {
		case p == leader:
		case served == nil:
			served = p
		default:
			victim = p
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()

	text := func(sel string) string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// waitFor polls the page until ok holds, as the page updates itself.
	waitFor := func(what string, limit time.Duration, ok func() bool) time.Duration {
		start := time.Now()
		for !ok() {
			if time.Since(start) > limit {
				t.Fatalf("after %v the page does not show %s; banner %q", limit, what, text("#banner"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(start)
	}
	screenshot := func(name string) {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", path, len(png))
	}

	if _, err := chromedp.Run(bctx, chromedp.Navigate(served.clientURL+"/dashboard")); err != nil {
		t.Fatalf("open %s/dashboard: %v", served.clientURL, err)
	}
	waitFor("three members", 10*time.Second, func() bool { return text("#member-count") == "3" })
	waitFor("the leader "+leader.name, 10*time.Second, func() bool { return text("#leader") == leader.name })
	waitFor("a healthy cluster", 10*time.Second, func() bool { return strings.HasPrefix(text("#banner"), "Cluster healthy") })
	if got := text("#served-by"); got != "served by "+served.name {
		t.Errorf("served-by = %q, want %q", got, "served by "+served.name)
	}

	// A bounded load: at most 20,000 puts or 20 s, whichever ends first.
	loadCtx, stopLoad := context.WithTimeout(context.Background(), 20*time.Second)
	defer stopLoad()
	loadDone := make(chan int)
	go func() {
		n := 0
		for ; n < 20000 && loadCtx.Err() == nil; n++ {
			cctx, cancel := context.WithTimeout(loadCtx, 2*time.Second)
			cli.Put(cctx, fmt.Sprintf("/dashboard/load/%d", n%500), "v")
			cancel()
		}
		loadDone <- n
	}()
	ops := func() float64 {
		v, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#ops"), "data-value"))
		if err != nil || !v.Exists {
			return 0
		}
		f, _ := strconv.ParseFloat(v.Value, 64)
		return f
	}
	waitFor("ops/s rising above 20 under load", 10*time.Second, func() bool { return ops() > 20 })
	waitFor("the keys written", 10*time.Second, func() bool { return text("#keys") != "0" })
	screenshot("dashboard-under-load.png")

	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	sel := fmt.Sprintf(`tr[data-member=%q][data-state="down"]`, victim.name)
	took := waitFor(victim.name+" marked down", 5*time.Second, func() bool {
		n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		return n == 1
	})
	t.Logf("%s marked down %v after it was killed", victim.name, took.Round(10*time.Millisecond))
	waitFor("a degraded cluster naming "+victim.name, 5*time.Second, func() bool {
		b := text("#banner")
		return strings.HasPrefix(b, "Cluster degraded") && strings.Contains(b, victim.name)
	})
	screenshot("dashboard-member-down.png")

	// On a phone's width the page reflows: nothing wider than the screen.
	if _, err := chromedp.Run(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a view or two re-renders at the new width
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth - window.innerWidth"))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("on a 390 px wide screen the page is %d px wider than the screen", overflow)
	}
	screenshot("dashboard-phone.png")
	stopLoad()
	if n := <-loadDone; n == 0 {
		t.Fatal("the load made no put")
	}
}
