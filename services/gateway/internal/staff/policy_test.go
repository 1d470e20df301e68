package staff

import (
	"errors"
	"testing"
)

// TestPasswordPolicy: staff passwords follow platform/password's policy with
// the staff minimum, on every path that sets one. Before the shared policy
// a common password with digits added was accepted.
func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a, err := f.sv.Create(ctx, "owner", pw, RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, cur := f.signIn(t, "owner", RoleAdmin)
	for _, bad := range []string{"password123456", "elevenchars", "qwertyuiop!!"} {
		for name, set := range map[string]func() error{
			"create": func() error { _, err := f.sv.Create(ctx, "new-member", bad, RoleManager, nil); return err },
			"reset":  func() error { return f.sv.ResetPassword(ctx, a.ID, bad) },
			"change": func() error { return f.sv.ChangePassword(ctx, cur, pw, bad) },
		} {
			var inv *InvalidError
			if err := set(); !errors.As(err, &inv) || inv.Fields["password"] == "" {
				t.Errorf("%s with %q: %v, want a password field error", name, bad, err)
			}
		}
	}
	var inv *InvalidError
	if err := f.sv.ChangePassword(ctx, cur, pw, "my owner is kind"); !errors.As(err, &inv) || inv.Fields["password"] == "" {
		t.Errorf("a password with the login in it: %v, want a password field error", err)
	}
}
