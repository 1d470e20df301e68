package main

import (
	"strings"
	"testing"
)

// TestProductionSwitches: `fabrika dev` stays friendly, but the production
// behaviour of the standalone services is one switch away, and the switches
// that only make sense together are refused apart (issue 15, "Also").
func TestProductionSwitches(t *testing.T) {
	cases := []struct {
		args    []string
		err     string // part of the error; "" for none
		confirm bool   // shop sign-ups confirmed by e-mail
	}{
		{args: nil},
		{args: []string{"--production"}, err: "needs --tls-cert"},
		{args: []string{"--production", "--cookie-secure"}, confirm: true},
		{args: []string{"--production", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, confirm: true},
		{args: []string{"--production", "--cookie-secure", "--allow-private-webhooks"}, err: "development only"},
		{args: []string{"--tls-cert", "c.pem"}, err: "go together"},
		{args: []string{"--allow-private-webhooks"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			m := NewMain()
			err := m.ParseFlags(tc.args)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want one saying %q", err, tc.err)
			case err == nil && m.Config.ConfirmSignUps != tc.confirm:
				t.Fatalf("sign-ups confirmed by e-mail: %v, want %v", m.Config.ConfirmSignUps, tc.confirm)
			}
		})
	}
}
