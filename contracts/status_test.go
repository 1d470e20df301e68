package contracts

import "testing"

func TestStatusAfter(t *testing.T) {
	t.Parallel()
	for event, want := range map[string]string{
		OrderPriced: StatusPriced, OrderNeedsReview: StatusNeedsReview, OrderConfirmed: StatusConfirmed,
		OrderOnHold: StatusOnHold, OrderInProduction: StatusInProduction, OrderProduced: StatusProduced,
		OrderShipped: StatusShipped, OrderCancelled: StatusCancelled,
		OrderPlaced: "", OrderResumed: "", OrderAssigned: "", OrderNoteAdded: "", CompensationGranted: "", "bogus": "",
	} {
		if got := StatusAfter(event); got != want {
			t.Errorf("StatusAfter(%q) = %q, want %q", event, got, want)
		}
		if want != "" {
			if _, ok := StatusRank(want); !ok {
				t.Errorf("%s announces %q, which has no rank", event, want)
			}
		}
	}
}
