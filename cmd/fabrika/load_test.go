package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoadDrivesThePlatform: `fabrika load` places orders in the shop and
// through the B2B API, has them confirmed, produced and shipped by staff,
// and reports every hop of every order from the CRM's timeline and the CPU
// the platform spent per order.
func TestLoadDrivesThePlatform(t *testing.T) {
	r := startMain(t, func(context.Context, *Main) {})
	var admin []string
	for _, s := range platformServices {
		admin = append(admin, s+"=http://"+r.m.AdminAddr(s))
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	err := run(ctx, []string{"load", "-url", r.public, "-data-dir", r.m.Config.DataDir,
		"-gateway-dsn", dsnOf(r.m, "gateway"), "-mes-api-dsn", dsnOf(r.m, "mes-api"), "-admin", strings.Join(admin, ","),
		"-rate", "4", "-phase", "3s", "-drain", "90s", "-customers", "2", "-staff", "1"}, &out)
	report := out.String()
	if err != nil {
		t.Fatalf("load: %v\n%s", err, report)
	}
	count := func(hop string) int {
		m := regexp.MustCompile(`\| ` + hop + ` \| (\d+) \|`).FindStringSubmatch(report)
		if m == nil {
			t.Fatalf("no %s hop in the report:\n%s", hop, report)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	placed := count("placed")
	if placed < 6 {
		t.Fatalf("%d orders placed in 3 s at 4/s:\n%s", placed, report)
	}
	for _, hop := range []string{"priced", "confirmed", "in_production", "shipped"} {
		if n := count(hop); n != placed {
			t.Errorf("%s: %d of %d orders", hop, n, placed)
		}
	}
	if strings.Contains(report, "errors:") {
		t.Errorf("the load met errors:\n%s", report)
	}
	if m := regexp.MustCompile(`\| total \| (\d+\.\d+) \|`).FindStringSubmatch(report); m == nil || m[1] == "0.00" {
		t.Errorf("no CPU per order in the report:\n%s", report)
	}
	if !strings.Contains(report, "capacity (highest rate with placed-to-priced p99 < 250ms)") {
		t.Errorf("no capacity line:\n%s", report)
	}
}
