package production

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ActionKind is what an operator does to an operation.
type ActionKind string

// Actions on an operation.
const (
	ActStart  ActionKind = "start"
	ActPause  ActionKind = "pause"
	ActResume ActionKind = "resume"
	ActRecord ActionKind = "record" // add good and scrap quantities while working
	ActFinish ActionKind = "finish"
	// ActShip is the action on an order (see Shipment); it shares the
	// event-id bookkeeping with the operation actions.
	ActShip ActionKind = "ship"
)

// ParseActionKind returns the operation action named s.
func ParseActionKind(s string) (ActionKind, error) {
	switch k := ActionKind(s); k {
	case ActStart, ActPause, ActResume, ActRecord, ActFinish:
		return k, nil
	}
	return "", NotFound("unknown action %q", truncate(s, 40))
}

// Limits of operator input.
const (
	MaxQuantity  = 1_000_000 // per action; anything above is a typo
	MaxReasonLen = 200       // characters
	MaxRefLen    = 100       // carrier and tracking number
)

// Action is a validated operator action on an operation. The zero value is
// not valid; build one with NewAction.
type Action struct {
	kind        ActionKind
	eventID     string
	reason      string
	good, scrap int
	scrapReason string
}

// ActionInput is an action as a client sends it.
type ActionInput struct {
	EventID     string
	Reason      string // why the operation is paused
	GoodQty     int
	ScrapQty    int
	ScrapReason string
}

// NewAction validates an action: a client event id (UUID), a reason to
// pause, non-negative quantities within MaxQuantity, a reason for any scrap,
// and no fields the action does not use.
func NewAction(kind ActionKind, in ActionInput) (Action, error) {
	if _, err := ParseActionKind(string(kind)); err != nil {
		return Action{}, err
	}
	id, err := ParseEventID(in.EventID)
	if err != nil {
		return Action{}, err
	}
	reason, err := text("reason", in.Reason, MaxReasonLen)
	if err != nil {
		return Action{}, err
	}
	scrapReason, err := text("scrap_reason", in.ScrapReason, MaxReasonLen)
	if err != nil {
		return Action{}, err
	}
	if err := quantity("good_qty", in.GoodQty); err != nil {
		return Action{}, err
	}
	if err := quantity("scrap_qty", in.ScrapQty); err != nil {
		return Action{}, err
	}
	usesQty := kind == ActRecord || kind == ActFinish
	switch {
	case kind == ActPause && reason == "":
		return Action{}, invalid("reason", "say why the operation is paused")
	case kind != ActPause && reason != "":
		return Action{}, invalid("reason", "a reason is given only when pausing")
	case !usesQty && (in.GoodQty != 0 || in.ScrapQty != 0 || scrapReason != ""):
		return Action{}, invalid("good_qty", "quantities are recorded with record or finish, not %s", kind)
	case in.ScrapQty > 0 && scrapReason == "":
		return Action{}, invalid("scrap_reason", "say why the parts were scrapped")
	case in.ScrapQty == 0 && scrapReason != "":
		return Action{}, invalid("scrap_qty", "enter how many parts were scrapped")
	case kind == ActRecord && in.GoodQty == 0 && in.ScrapQty == 0:
		return Action{}, invalid("good_qty", "enter a good or scrap quantity to record")
	}
	return Action{kind: kind, eventID: id, reason: reason, good: in.GoodQty, scrap: in.ScrapQty, scrapReason: scrapReason}, nil
}

// Kind is the action's kind.
func (a Action) Kind() ActionKind { return a.kind }

// EventID is the client's id for the action, the same on every retry.
func (a Action) EventID() string { return a.eventID }

// Reason is why an operation is paused.
func (a Action) Reason() string { return a.reason }

// GoodQty is the number of good parts recorded by the action.
func (a Action) GoodQty() int { return a.good }

// ScrapQty is the number of scrapped parts recorded by the action.
func (a Action) ScrapQty() int { return a.scrap }

// ScrapReason is why parts were scrapped.
func (a Action) ScrapReason() string { return a.scrapReason }

// Fingerprint identifies what the action does on which target and by whom,
// so that a retry with the same event id can be told from a different action
// reusing it.
func (a Action) Fingerprint(target, actor string) string {
	return fingerprint(string(a.kind), target, actor, a.reason, strconv.Itoa(a.good), strconv.Itoa(a.scrap), a.scrapReason)
}

// Shipment is a validated request to mark an order shipped.
type Shipment struct {
	eventID  string
	carrier  string
	tracking string
}

// NewShipment validates a shipment: a client event id, a carrier and a
// tracking number.
func NewShipment(eventID, carrier, tracking string) (Shipment, error) {
	id, err := ParseEventID(eventID)
	if err != nil {
		return Shipment{}, err
	}
	c, err := text("carrier", carrier, MaxRefLen)
	if err != nil {
		return Shipment{}, err
	}
	if c == "" {
		return Shipment{}, invalid("carrier", "enter the carrier")
	}
	tr, err := text("tracking_number", tracking, MaxRefLen)
	if err != nil {
		return Shipment{}, err
	}
	if tr == "" {
		return Shipment{}, invalid("tracking_number", "enter the tracking number")
	}
	return Shipment{eventID: id, carrier: c, tracking: tr}, nil
}

// EventID is the client's id for the shipment.
func (s Shipment) EventID() string { return s.eventID }

// Carrier is who carries the parcel.
func (s Shipment) Carrier() string { return s.carrier }

// TrackingNumber is the carrier's reference.
func (s Shipment) TrackingNumber() string { return s.tracking }

// Fingerprint identifies the shipment, as Action.Fingerprint does.
func (s Shipment) Fingerprint(target, actor string) string {
	return fingerprint(string(ActShip), target, actor, s.carrier, s.tracking)
}

func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ParseEventID checks a client event id: a UUID in its canonical text form
// (any version). It is returned in lower case.
func ParseEventID(s string) (string, error) {
	if s == "" {
		return "", invalid("event_id", "an event id (UUID) is required so that a retry is applied once")
	}
	if len(s) != 36 {
		return "", invalid("event_id", "the event id must be a UUID")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", invalid("event_id", "the event id must be a UUID")
			}
		default:
			if !isHex(c) {
				return "", invalid("event_id", "the event id must be a UUID")
			}
		}
	}
	return strings.ToLower(s), nil
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// text trims a free-text field and checks its length and characters.
func text(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", invalid(field, "must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(s) > max {
		return "", invalid(field, "must be at most %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", invalid(field, "must be a single line of text")
		}
	}
	return s, nil
}

func quantity(field string, n int) error {
	if n < 0 {
		return invalid(field, "cannot be negative")
	}
	if n > MaxQuantity {
		return invalid(field, "must be at most %d", MaxQuantity)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
