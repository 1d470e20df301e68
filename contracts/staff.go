package contracts

import "time"

// StaffChangedV1 is a staff account as the gateway, which owns the accounts,
// has it after a change (created, role, workstations, disabled), and again
// for every account when the gateway starts. It never carries a credential.
// The CRM keeps a copy to offer managers to assign orders to. Key: StaffID;
// a consumer keeps the copy with the latest ChangedAt.
type StaffChangedV1 struct {
	StaffID      string    `json:"staff_id"`
	Login        string    `json:"login"`
	Role         string    `json:"role"` // admin, manager or operator
	Workstations []string  `json:"workstations,omitempty"`
	Disabled     bool      `json:"disabled"`
	ChangedAt    time.Time `json:"changed_at"`
}

// Validate checks the contract.
func (m StaffChangedV1) Validate() error {
	if err := cleanText(m); err != nil {
		return err
	}
	if err := require(str("staff_id", m.StaffID), str("login", m.Login), str("role", m.Role), when("changed_at", m.ChangedAt)); err != nil {
		return err
	}
	switch m.Role {
	case "admin", "manager", "operator":
		return nil
	}
	return invalid("unknown role %q", m.Role)
}
