package identity_test

import (
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/identity"
)

func TestAddCSRFFields(t *testing.T) {
	t.Parallel()
	page := `<form method="get" action="/crm/orders"><input name="q"></form>
<form method="post" action="/crm/orders/1/confirm"><button>Confirm</button></form>
<FORM class="inline" METHOD='POST' action="/mes/x"></FORM>`
	got := string(identity.AddCSRFFields([]byte(page), `t"<k`))
	field := `<input type="hidden" name="csrf_token" value="t&#34;&lt;k">`
	if n := strings.Count(got, field); n != 2 {
		t.Fatalf("%d fields, want 2 (both POST forms, escaped token):\n%s", n, got)
	}
	if !strings.Contains(got, `<form method="post" action="/crm/orders/1/confirm">`+field) {
		t.Fatalf("field not right after the form tag:\n%s", got)
	}
	if strings.Contains(got, `/crm/orders">`+field) {
		t.Fatal("GET form got a token")
	}
	if string(identity.AddCSRFFields([]byte(page), "")) != page {
		t.Fatal("page changed without a token")
	}
}
