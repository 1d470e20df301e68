// Package cputime reads CPU time for benchmarks and load tools: this
// process's, and the whole machine's (Linux), so that what a run cost is
// measured in CPU rather than wall time on a shared machine.
package cputime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is the CPU time this process has used so far, user and system.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// OfProcess is the CPU time process pid has used so far (Linux's
// /proc/PID/schedstat: the nanoseconds it ran): what a benchmark reads for
// the database server's backends on the same machine.
func OfProcess(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b)) // on the CPU (ns), waiting (ns), timeslices
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/%d/schedstat: empty", pid)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("/proc/%d/schedstat: %q", pid, f[0])
	}
	return time.Duration(ns), nil
}

// Machine is the CPU time every processor of this machine has been busy
// since boot, all processes and the kernel (Linux's /proc/stat): beside a
// process's own CPU, what a load on the same machine cost in all,
// PostgreSQL, the broker and the load included.
func Machine() (time.Duration, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, errors.New("/proc/stat: empty")
	}
	return busy(sc.Text())
}

// clockTicks is the unit of /proc/stat (USER_HZ): 100 a second on every
// Linux architecture Go builds for.
const clockTicks = 100

// busy is the busy time of /proc/stat's first line, "cpu user nice system
// idle iowait irq softirq steal guest guest_nice": every field but idle and
// iowait, and not the guests' (already counted in user and nice).
func busy(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q is not the line of all CPUs", line)
	}
	var ticks int64
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc/stat: field %d %q", i+1, v)
		}
		if i != 3 && i != 4 { // idle, iowait
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
