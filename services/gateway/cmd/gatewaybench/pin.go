package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// pinnedEnv marks a bench process that runs already on the CPUs left to
// the clients and the upstream.
const pinnedEnv = "GATEWAYBENCH_PINNED"

// parseCPUs reads a CPU list as taskset takes it: "1", "0,2", "2-3".
func parseCPUs(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(cpus, c) {
				cpus = append(cpus, c)
			}
		}
	}
	slices.Sort(cpus)
	return cpus, nil
}

func formatCPUs(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// pinSelf re-executes this program under taskset on the CPUs that are not
// the gateway's, so that the clients and the upstream (which inherits the
// mask) never take the gateway's cores, as on separate machines. It
// returns only when this process is that re-execution, or on an error.
func pinSelf(gatewayCPUs []int) error {
	if os.Getenv(pinnedEnv) != "" {
		return nil
	}
	var others []int
	for c := range runtime.NumCPU() {
		if !slices.Contains(gatewayCPUs, c) {
			others = append(others, c)
		}
	}
	if len(others) == 0 || len(others) == runtime.NumCPU() {
		return fmt.Errorf("-gateway-cpus %s must name some, not all, of CPUs 0-%d", formatCPUs(gatewayCPUs), runtime.NumCPU()-1)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return errors.New("-gateway-cpus needs taskset (Debian package util-linux)")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{"taskset", "-c", formatCPUs(others), exe}, os.Args[1:]...)
	return syscall.Exec(taskset, argv, append(os.Environ(), pinnedEnv+"=1"))
}

// pinned is cmd run under taskset on cpus ("" leaves cmd as it is).
func pinned(cpus string, cmd *exec.Cmd) *exec.Cmd {
	if cpus == "" {
		return cmd
	}
	p := exec.Command("taskset", append([]string{"-c", cpus, cmd.Path}, cmd.Args[1:]...)...)
	p.Env, p.Stderr = cmd.Env, cmd.Stderr
	return p
}
