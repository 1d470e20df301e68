package contracts

import "time"

// Customer is who ordered: a shop customer or a B2B company using the API.
type Customer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Company string `json:"company,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// Address is where an order is delivered.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// LineItem is one configured part of an order. Options are keyed by the
// option codes of the price list (material, thickness_mm, width_mm, ...).
type LineItem struct {
	LineNo   int               `json:"line_no"`
	Product  string            `json:"product"`
	Options  map[string]string `json:"options"`
	Quantity int               `json:"quantity"`
	Lead     string            `json:"lead"` // "standard" or "rush"
	// UnitPrice and Total are the customer's quote when the order was placed;
	// mes-calc computes the binding price.
	UnitPrice int64 `json:"unit_price"`
	Total     int64 `json:"total"`
}

// OrderPlacedV1 is emitted by shop and mes-api when an order is accepted.
type OrderPlacedV1 struct {
	OrderID          string     `json:"order_id"`
	Number           string     `json:"number"`
	Channel          string     `json:"channel"`
	Customer         Customer   `json:"customer"`
	Lines            []LineItem `json:"lines"`
	Delivery         Address    `json:"delivery"`
	Currency         string     `json:"currency"`
	QuotedTotal      int64      `json:"quoted_total"`
	PriceListVersion int64      `json:"price_list_version"`
	PlacedAt         time.Time  `json:"placed_at"`
}

// Validate checks the contract.
func (m OrderPlacedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	if err := require(str("order_id", m.OrderID), str("number", m.Number), str("customer.id", m.Customer.ID), when("placed_at", m.PlacedAt)); err != nil {
		return err
	}
	if m.Channel != ChannelShop && m.Channel != ChannelAPI {
		return invalid("unknown channel %q", m.Channel)
	}
	if len(m.Lines) == 0 || len(m.Lines) > 50 {
		return invalid("an order has 1 to 50 lines, got %d", len(m.Lines))
	}
	for _, l := range m.Lines {
		if l.Product == "" || l.Quantity <= 0 {
			return invalid("line %d: product and a positive quantity are required", l.LineNo)
		}
	}
	return nil
}

// RoutingStep is one operation of an order's production routing.
type RoutingStep struct {
	LineNo         int     `json:"line_no"`
	Seq            int     `json:"seq"`
	Operation      string  `json:"operation"`
	Workstation    string  `json:"workstation"`
	PlannedMinutes float64 `json:"planned_minutes"`
}

// PricedLine is the binding price of one line.
type PricedLine struct {
	LineNo    int   `json:"line_no"`
	Quantity  int   `json:"quantity"`
	UnitPrice int64 `json:"unit_price"`
	Total     int64 `json:"total"`
}

// OrderPricedV1 is emitted by mes-calc with the binding price, the routing and
// the ship date.
type OrderPricedV1 struct {
	OrderID          string        `json:"order_id"`
	Channel          string        `json:"channel"`
	Lines            []PricedLine  `json:"lines"`
	Total            int64         `json:"total"`
	Currency         string        `json:"currency"`
	PriceListVersion int64         `json:"price_list_version"`
	Routing          []RoutingStep `json:"routing"`
	LeadDays         int           `json:"lead_days"`
	ShipDate         string        `json:"ship_date"` // YYYY-MM-DD
	Rush             bool          `json:"rush"`
	PricedAt         time.Time     `json:"priced_at"`
}

// Validate checks the contract.
func (m OrderPricedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	if err := require(str("order_id", m.OrderID), str("ship_date", m.ShipDate), when("priced_at", m.PricedAt)); err != nil {
		return err
	}
	if len(m.Lines) == 0 || len(m.Routing) == 0 {
		return invalid("lines and routing are required")
	}
	if m.Total <= 0 {
		return invalid("total must be positive")
	}
	return nil
}

// OrderNeedsReviewV1 is emitted by mes-calc when an order cannot be priced
// automatically; a manager looks at it in the CRM.
type OrderNeedsReviewV1 struct {
	OrderID string    `json:"order_id"`
	Channel string    `json:"channel"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Validate checks the contract.
func (m OrderNeedsReviewV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	return require(str("order_id", m.OrderID), str("reason", m.Reason), when("at", m.At))
}

// OrderStatusChangedV1 is the payload of the plain status events: confirmed,
// on_hold, resumed, cancelled, cancel_requested, in_production, produced. Who
// is the person (manager, operator, customer, API client) that caused it.
type OrderStatusChangedV1 struct {
	OrderID string    `json:"order_id"`
	Channel string    `json:"channel,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at"`
}

// Validate checks the contract.
func (m OrderStatusChangedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	return require(str("order_id", m.OrderID), when("at", m.At))
}

// OrderConfirmedV1 is emitted by the CRM when a manager confirms a priced
// order; production may start only then. It repeats the routing so that
// mes-operator needs no other event to plan the work.
type OrderConfirmedV1 struct {
	OrderID  string        `json:"order_id"`
	Number   string        `json:"number"`
	Channel  string        `json:"channel"`
	Routing  []RoutingStep `json:"routing"`
	ShipDate string        `json:"ship_date"`
	Rush     bool          `json:"rush"`
	By       string        `json:"by"`
	At       time.Time     `json:"at"`
	// Lines say what to make (product, options, quantity) for the job
	// cards; absent in events of older CRMs.
	Lines []LineItem `json:"lines,omitempty"`
}

// Validate checks the contract.
func (m OrderConfirmedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	if err := require(str("order_id", m.OrderID), when("at", m.At)); err != nil {
		return err
	}
	if len(m.Routing) == 0 {
		return invalid("routing is required")
	}
	return nil
}

// OrderAssignedV1 is emitted by the CRM when a manager becomes an order's owner.
type OrderAssignedV1 struct {
	OrderID string    `json:"order_id"`
	Manager string    `json:"manager"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Validate checks the contract.
func (m OrderAssignedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	return require(str("order_id", m.OrderID), str("manager", m.Manager), when("at", m.At))
}

// OrderNoteAddedV1 is emitted by the CRM when a manager adds a note.
type OrderNoteAddedV1 struct {
	OrderID string    `json:"order_id"`
	Note    string    `json:"note"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Validate checks the contract.
func (m OrderNoteAddedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	return require(str("order_id", m.OrderID), str("note", m.Note), when("at", m.At))
}

// OperationStartedV1 is emitted by mes-operator when an operator starts an
// operation of an order's routing (once per operation), so that managers
// see where an order is on the shop floor.
type OperationStartedV1 struct {
	OrderID     string    `json:"order_id"`
	LineNo      int       `json:"line_no"`
	Seq         int       `json:"seq"`
	Operation   string    `json:"operation"`
	Workstation string    `json:"workstation"`
	Operator    string    `json:"operator"`
	At          time.Time `json:"at"`
}

// Validate checks the contract.
func (m OperationStartedV1) Validate() error {
	return require(str("order_id", m.OrderID), str("operation", m.Operation), when("at", m.At))
}

// OperationFinishedV1 is emitted by mes-operator when an operation of an
// order's routing is finished.
type OperationFinishedV1 struct {
	OrderID     string    `json:"order_id"`
	LineNo      int       `json:"line_no"`
	Seq         int       `json:"seq"`
	Operation   string    `json:"operation"`
	Workstation string    `json:"workstation"`
	GoodQty     int       `json:"good_qty"`
	ScrapQty    int       `json:"scrap_qty"`
	ScrapReason string    `json:"scrap_reason,omitempty"`
	Operator    string    `json:"operator"`
	At          time.Time `json:"at"`
}

// Validate checks the contract.
func (m OperationFinishedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	if err := require(str("order_id", m.OrderID), str("operation", m.Operation), when("at", m.At)); err != nil {
		return err
	}
	if m.GoodQty < 0 || m.ScrapQty < 0 {
		return invalid("quantities cannot be negative")
	}
	return nil
}

// OrderShippedV1 is emitted by mes-operator when an order leaves the plant.
type OrderShippedV1 struct {
	OrderID        string    `json:"order_id"`
	Channel        string    `json:"channel,omitempty"`
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	By             string    `json:"by"`
	At             time.Time `json:"at"`
}

// Validate checks the contract.
func (m OrderShippedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	return require(str("order_id", m.OrderID), str("carrier", m.Carrier), str("tracking_number", m.TrackingNumber), when("at", m.At))
}

// CompensationGrantedV1 is emitted by the CRM when a customer is compensated
// for an order that was delayed, lost or went wrong.
type CompensationGrantedV1 struct {
	CompensationID string    `json:"compensation_id"`
	OrderID        string    `json:"order_id"`
	CustomerID     string    `json:"customer_id"`
	Kind           string    `json:"kind"` // "discount" or "voucher"
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	Reason         string    `json:"reason"`
	By             string    `json:"by"`
	At             time.Time `json:"at"`
}

// Validate checks the contract.
func (m CompensationGrantedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	if err := require(str("compensation_id", m.CompensationID), str("customer_id", m.CustomerID), str("reason", m.Reason), when("at", m.At)); err != nil {
		return err
	}
	if m.Amount <= 0 {
		return invalid("amount must be positive")
	}
	if m.Kind != "discount" && m.Kind != "voucher" {
		return invalid("unknown kind %q", m.Kind)
	}
	return nil
}
