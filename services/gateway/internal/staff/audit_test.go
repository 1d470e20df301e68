package staff

import (
	"testing"

	"github.com/fabrika/fabrika/services/gateway/internal/store"
)

// TestAuditCommitsWithTheAction (issue 16.11): a staff action and its audit
// entry commit together or not at all. An entry that cannot be written (its
// id is taken, as a failing database would refuse it) takes the change back
// with it; a good one is written in the change's transaction. Before, the
// change committed and its entry was written afterwards, or lost.
func TestAuditCommitsWithTheAction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a, err := f.sv.Create(ctx, "maria", pw, RoleManager, nil)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(id string) store.AuditEntry {
		return store.AuditEntry{ID: id, At: f.clock.Now(), StaffID: "admin-1", Login: "ada", Role: RoleAdmin,
			Action: "staff.update", Method: "POST", Path: "/staff/admin/staff/" + a.ID, Status: 303}
	}
	if err := f.st.AddAudit(ctx, entry("taken")); err != nil {
		t.Fatal(err)
	}
	bad := &store.PendingAudit{Entry: entry("taken")}
	if err := f.sv.Update(store.WithPendingAudit(ctx, bad), a.ID, RoleAdmin, nil, false); err == nil || bad.Written {
		t.Fatalf("update with an audit entry that cannot be written: %v (written %v), want an error", err, bad.Written)
	}
	if got, _ := f.st.AccountByID(ctx, a.ID); got.Role != RoleManager {
		t.Fatalf("the change committed without its audit entry: role %s", got.Role)
	}
	good := &store.PendingAudit{Entry: entry("good")}
	if err := f.sv.Update(store.WithPendingAudit(ctx, good), a.ID, RoleAdmin, nil, false); err != nil || !good.Written {
		t.Fatalf("update: %v (written %v)", err, good.Written)
	}
	entries, err := f.st.Audit(ctx, store.AuditFilter{Login: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.ID == "good" {
			n++
		}
	}
	if got, _ := f.st.AccountByID(ctx, a.ID); got.Role != RoleAdmin || n != 1 {
		t.Fatalf("role %s, %d entries of the change", got.Role, n)
	}
}
