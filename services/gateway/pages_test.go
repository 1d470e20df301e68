package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

func TestStaffPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	adm := e.staff("ada", identity.RoleAdmin)
	m := e.staff("maria", identity.RoleManager)
	m2 := e.client() // maria on a second browser
	if res := m2.signIn("maria", "a long enough password", ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", res.StatusCode)
	}
	for _, p := range []string{"/staff/admin/staff", "/staff/admin/staff/" + m.id, "/staff/admin/audit", "/staff/"} {
		res := adm.do("GET", p, nil, nil)
		if res.StatusCode != 200 || !strings.Contains(string(res.body), `name="csrf_token" value="`+adm.csrf+`"`) {
			t.Errorf("%s: %d, or no CSRF field in its forms", p, res.StatusCode)
		}
	}
	// Own password: the current one is checked, the new one too; the other
	// session ends, this one stays.
	res := m.form("/staff/password", url.Values{"csrf_token": {m.csrf}, "current": {"wrong"}, "password": {"a new long password"}, "confirm": {"a new long password"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "is not your current password") {
		t.Fatalf("wrong current password: %d", res.StatusCode)
	}
	res = m.form("/staff/password", url.Values{"csrf_token": {m.csrf}, "current": {"a long enough password"}, "password": {"a new long password"}, "confirm": {"a new long password"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", res.StatusCode, res.body)
	}
	if res := m.do("GET", "/crm/x", nil, nil); res.StatusCode != 200 {
		t.Errorf("the session that changed the password: %d", res.StatusCode)
	}
	if res := m2.do("GET", "/crm/x", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the other session after a password change: %d", res.StatusCode)
	}
	// An admin resets it: every session of the account ends.
	res = adm.form("/staff/admin/staff/"+m.id+"/password", url.Values{"csrf_token": {adm.csrf}, "password": {"reset by the admin"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", res.StatusCode, res.body)
	}
	if res := m.do("GET", "/crm/x", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after an admin reset: %d", res.StatusCode)
	}
	if res := e.client().signIn("maria", "reset by the admin", ""); res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign in with the reset password: %d", res.StatusCode)
	}
	// An admin cannot demote themself; role changes apply to the next request.
	res = adm.form("/staff/admin/staff/"+adm.id, url.Values{"csrf_token": {adm.csrf}, "role": {"manager"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("self-demotion: %d", res.StatusCode)
	}
	o := e.staff("otto", identity.RoleOperator, "WS-1")
	res = adm.form("/staff/admin/staff/"+o.id, url.Values{"csrf_token": {adm.csrf}, "role": {"manager"}, "workstations": {"WS-1"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "only operators are bound to workstations") {
		t.Errorf("manager with workstations: %d", res.StatusCode)
	}
	res = adm.form("/staff/admin/staff/"+o.id, url.Values{"csrf_token": {adm.csrf}, "role": {"manager"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("make otto a manager: %d %s", res.StatusCode, res.body)
	}
	if res := o.do("GET", "/crm/x", nil, nil); res.StatusCode != 200 {
		t.Errorf("otto as manager on /crm/: %d", res.StatusCode)
	}
	if res := o.do("GET", "/mes/x", nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("otto as manager on /mes/: %d", res.StatusCode)
	}
	// Failed sign-ins delay otto's next one; the admin sees it and lifts it.
	// (The first five cost the account nothing; the waits between them let
	// each one be counted.)
	e.clock.Freeze()
	for range 8 {
		if res := e.client().signIn("otto", "not the password", ""); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a failure: %d", res.StatusCode)
		}
		e.clock.Advance(40 * time.Second)
	}
	e.clock.Advance(-40 * time.Second)
	if res := e.client().signIn("otto", "a long enough password", ""); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("delayed otto signed in: %d", res.StatusCode)
	}
	if res := adm.do("GET", "/staff/admin/staff/"+o.id, nil, nil); !strings.Contains(string(res.body), "delay its next sign-in") {
		t.Errorf("the account page does not show the delay: %s", res.body)
	}
	if res := adm.form("/staff/admin/staff/"+o.id+"/unlock", url.Values{"csrf_token": {adm.csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	if res := adm.do("GET", "/staff/admin/staff/"+o.id, nil, nil); strings.Contains(string(res.body), "delay its next sign-in") {
		t.Errorf("the delay is still shown after it was lifted")
	}
}

// TestFlashOnlyKnownMessages (issue 15.13): a staff page shows after an
// action only its own message, by key; text put in ?done= by whoever wrote
// the link is not shown. Before, any text was.
func TestFlashOnlyKnownMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	adm := e.staff("ada", identity.RoleAdmin)
	for _, path := range []string{"/staff/", "/staff/admin/staff/" + adm.id} {
		res := adm.do("GET", path+"?done=Your+account+is+suspended.+Call+555-0100", nil, nil)
		if res.StatusCode != http.StatusOK || strings.Contains(string(res.body), "555-0100") {
			t.Errorf("%s shows text from the link: %d", path, res.StatusCode)
		}
	}
	if res := adm.do("GET", "/staff/?done=password", nil, nil); !strings.Contains(string(res.body), "Password changed.") {
		t.Errorf("the known message is not shown")
	}
}

// TestWorkstationsFromTheMES: an operator is bound to workstations of the
// MES's price list only. The admin page offers them as boxes to tick; a
// code the price list does not name ("moon") is refused with the field's
// message, on creation and on a change, and in the command's check; a newer
// price list replaces the set, an older one changes nothing.
func TestWorkstationsFromTheMES(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	adm := e.staff("ada", identity.RoleAdmin)
	res := adm.do("GET", "/staff/admin/staff", nil, nil)
	for _, want := range []string{`type="checkbox" name="workstations" value="laser"`, "Fibre laser cutter", `value="WS-1"`} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("the staff page does not offer %s:\n%s", want, res.body)
		}
	}
	for _, tc := range []struct {
		name string
		ws   []string
		code int
		msg  string
	}{
		{"unknown", []string{"laser", "moon"}, http.StatusUnprocessableEntity, `&#34;moon&#34; is not a workstation of the shop floor`},
		{"none", nil, http.StatusUnprocessableEntity, "an operator must be bound to at least one workstation"},
		{"known", []string{"laser", "press_brake"}, http.StatusSeeOther, ""},
	} {
		res := adm.form("/staff/admin/staff", url.Values{"csrf_token": {adm.csrf}, "login": {"olaf-" + tc.name}, "role": {"operator"},
			"workstations": tc.ws, "password": {"a long enough password"}})
		if res.StatusCode != tc.code || !strings.Contains(string(res.body), tc.msg) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, res.StatusCode, tc.code, tc.msg, res.body)
		}
	}
	// The list names the workstations as the MES does, never by code.
	if res := adm.do("GET", "/staff/admin/staff", nil, nil); !strings.Contains(string(res.body), "<td>Fibre laser cutter, Press brake</td>") {
		t.Errorf("the staff list does not name olaf-known's workstations:\n%s", res.body)
	}
	o := e.staff("otto", identity.RoleOperator, "WS-1")
	res = adm.form("/staff/admin/staff/"+o.id, url.Values{"csrf_token": {adm.csrf}, "role": {"operator"}, "workstations": {"WS-1", "moon"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "is not a workstation of the shop floor") {
		t.Errorf("change to an unknown workstation: %d", res.StatusCode)
	}
	if err := gateway.CheckStaffRole(t.Context(), e.db, identity.RoleOperator, []string{"moon"}); err == nil || !strings.Contains(err.Error(), `"moon" is not a workstation`) {
		t.Errorf("the command's check of moon: %v", err)
	}
	// A newer price list without WS-1 replaces the set; an older one is
	// ignored.
	pl := contracts.DemoPriceList(time.Now())
	pl.Version = 5
	pl.Workstations = append(pl.Workstations, contracts.Workstation{Code: "moon", Name: "Moon base", HourlyRate: 1, HoursPerDay: 1})
	if err := gateway.LearnWorkstations(t.Context(), e.db, pl); err != nil {
		t.Fatal(err)
	}
	old := contracts.DemoPriceList(time.Now())
	old.Version = 4
	if err := gateway.LearnWorkstations(t.Context(), e.db, old); err != nil {
		t.Fatal(err)
	}
	if err := gateway.CheckStaffRole(t.Context(), e.db, identity.RoleOperator, []string{"moon"}); err != nil {
		t.Errorf("moon after the newer price list: %v", err)
	}
	if err := gateway.CheckStaffRole(t.Context(), e.db, identity.RoleOperator, []string{"WS-1"}); err == nil {
		t.Error("WS-1 is still accepted after a newer price list without it")
	}
}
