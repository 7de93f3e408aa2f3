package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// revision is kvsim built from another commit of this repository, for
// kvsim compare --a-rev/--b-rev: its workers run that commit's core.
type revision struct {
	name, commit string
	// bin is the built kvsim; dir holds it and the worktree.
	bin, dir string
}

// buildRevision checks rev out in a temporary git worktree of the
// repository around the working directory and builds its kvsim there.
// The caller removes it with close.
func buildRevision(rev string) (*revision, error) {
	commit, err := gitOutput("", "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	dir, err := os.MkdirTemp("", "kvsim-rev-")
	if err != nil {
		return nil, err
	}
	r := &revision{name: rev, commit: commit, dir: dir, bin: filepath.Join(dir, "kvsim")}
	src := filepath.Join(dir, "src")
	if _, err := gitOutput("", "worktree", "add", "--detach", src, commit); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("revision %q: checking out %.12s: %w", rev, commit, err)
	}
	build := exec.Command("go", "build", "-o", r.bin, "./cmd/kvsim")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		r.close()
		return nil, fmt.Errorf("revision %q (%.12s): building kvsim: %w\n%s", rev, commit, err, out)
	}
	return r, nil
}

// close removes the worktree and the build.
func (r *revision) close() {
	gitOutput("", "worktree", "remove", "--force", filepath.Join(r.dir, "src")) //nolint:errcheck // best effort: the directory goes next
	os.RemoveAll(r.dir)
}

// gitOutput runs git in dir ("" here) and returns its trimmed output.
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
