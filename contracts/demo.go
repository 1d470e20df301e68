package contracts

import "time"

// DemoPriceList returns a realistic demonstration catalogue (version 1, EUR,
// minor units): the price list mes-calc seeds on its first start and that
// tests of every service may quote from. now becomes its PublishedAt.
//
// The figures are those of a small European job shop: a 200 x 100 x 2 mm
// steel bracket ordered ten at a time costs a few euros each. Every product's
// dimension ranges lie within the limits of the workstations that make it,
// so whatever this list quotes can be manufactured.
func DemoPriceList(now time.Time) PriceListV1 {
	return PriceListV1{
		Version:          1,
		Currency:         "EUR",
		PublishedAt:      now.UTC(),
		MarginPct:        35,
		MinimumUnitPrice: 150,
		RushMultiplier:   1.5,
		StandardLeadDays: 10,
		RushLeadDays:     4,
		MaxQuantity:      10000,
		QuantityBreaks:   []int{1, 10, 50, 100, 500},
		Materials: []Material{
			{Code: "steel_s235", Name: "Steel S235", DensityKgM3: 7850, CostPerKg: 120},
			{Code: "stainless_304", Name: "Stainless steel 304", DensityKgM3: 8000, CostPerKg: 450},
			{Code: "alu_5083", Name: "Aluminium 5083", DensityKgM3: 2660, CostPerKg: 520},
			{Code: "alu_6082", Name: "Aluminium 6082", DensityKgM3: 2700, CostPerKg: 480},
			{Code: "abs", Name: "ABS", DensityKgM3: 1040, CostPerKg: 2500},
			{Code: "pa12", Name: "PA12 (nylon)", DensityKgM3: 1010, CostPerKg: 6000},
			{Code: "pla", Name: "PLA", DensityKgM3: 1240, CostPerKg: 2000},
		},
		Finishes: []Finish{
			{Code: "none", Name: "No finish"},
			{Code: "powder_coat", Name: "Powder coating", CostPerM2: 1200, Workstation: "finishing", Minutes: 2},
			{Code: "anodise", Name: "Anodising", CostPerM2: 1500, Workstation: "finishing", Minutes: 1.5},
			{Code: "paint", Name: "Wet paint", CostPerM2: 1000, Workstation: "finishing", Minutes: 2.5},
		},
		Workstations: []Workstation{
			{Code: "laser", Name: "Fibre laser cutter", HourlyRate: 9000, HoursPerDay: 16, MaxWidthMM: 3000, MaxHeightMM: 1500, MaxThicknessM: 25},
			{Code: "press_brake", Name: "Press brake", HourlyRate: 6000, HoursPerDay: 8, MaxWidthMM: 3000, MaxThicknessM: 12},
			{Code: "cnc_mill", Name: "CNC milling centre", HourlyRate: 8500, HoursPerDay: 16, MaxWidthMM: 1000, MaxHeightMM: 600, MaxThicknessM: 250},
			{Code: "printer", Name: "3D printer farm", HourlyRate: 1500, HoursPerDay: 24, MaxWidthMM: 300, MaxHeightMM: 300, MaxThicknessM: 300},
			{Code: "finishing", Name: "Finishing line", HourlyRate: 4500, HoursPerDay: 8},
			{Code: "assembly", Name: "Assembly bench", HourlyRate: 5000, HoursPerDay: 8},
			{Code: "inspection", Name: "Quality inspection", HourlyRate: 5500, HoursPerDay: 8},
			{Code: "shipping", Name: "Dispatch bench", HourlyRate: 4000, HoursPerDay: 8}, // mes-operator's default shipping workstation
		},
		Products: []Product{
			{
				Code: "laser_cut_sheet", Name: "Laser-cut sheet part",
				Description: "Flat or bent sheet-metal part, laser cut, bent on a press brake and inspected.",
				Materials:   []string{"steel_s235", "stainless_304", "alu_5083"},
				Finishes:    []string{"none", "powder_coat", "paint", "anodise"},
				Width:       Range{Min: 10, Max: 3000}, Height: Range{Min: 10, Max: 1500}, Thickness: Range{Min: 0.5, Max: 12},
				Operations: []Operation{
					{Code: "laser_cut", Name: "Laser cutting", Workstation: "laser", SetupMinutes: 5, RunMinutes: 0.3, PerDm2: 0.2},
					{Code: "bend", Name: "Bending", Workstation: "press_brake", SetupMinutes: 10, RunMinutes: 0.4},
					{Code: "inspect", Name: "Inspection", Workstation: "inspection", SetupMinutes: 5, RunMinutes: 0.2},
				},
			},
			{
				Code: "cnc_milled_part", Name: "CNC-milled part",
				Description: "Machined block part, milled on a CNC centre, deburred and inspected.",
				Materials:   []string{"alu_6082", "alu_5083", "steel_s235", "stainless_304"},
				Finishes:    []string{"none", "anodise", "powder_coat"},
				Width:       Range{Min: 5, Max: 1000}, Height: Range{Min: 5, Max: 600}, Thickness: Range{Min: 2, Max: 200},
				Operations: []Operation{
					{Code: "mill", Name: "CNC milling", Workstation: "cnc_mill", SetupMinutes: 45, RunMinutes: 3, PerCm3: 0.05},
					{Code: "deburr", Name: "Deburring", Workstation: "finishing", SetupMinutes: 5, RunMinutes: 1, PerDm2: 0.2},
					{Code: "inspect", Name: "Inspection", Workstation: "inspection", SetupMinutes: 10, RunMinutes: 1},
				},
			},
			{
				Code: "printed_3d_part", Name: "3D-printed part",
				Description: "Plastic part printed layer by layer, then cleaned and post-processed.",
				Materials:   []string{"pla", "abs", "pa12"},
				Finishes:    []string{"none", "paint"},
				Width:       Range{Min: 5, Max: 300}, Height: Range{Min: 5, Max: 300}, Thickness: Range{Min: 1, Max: 300},
				Operations: []Operation{
					{Code: "print", Name: "3D printing", Workstation: "printer", SetupMinutes: 10, RunMinutes: 5, PerCm3: 0.6},
					{Code: "post_process", Name: "Post-processing", Workstation: "finishing", SetupMinutes: 0, RunMinutes: 3},
				},
			},
			{
				Code: "assembled_item", Name: "Assembled item",
				Description: "Welded or bolted assembly of sheet parts (thickness is the wall), assembled and inspected.",
				Materials:   []string{"steel_s235", "stainless_304", "alu_6082"},
				Finishes:    []string{"none", "powder_coat", "paint"},
				Width:       Range{Min: 20, Max: 1200}, Height: Range{Min: 20, Max: 1200}, Thickness: Range{Min: 1, Max: 6},
				Operations: []Operation{
					{Code: "assemble", Name: "Assembly", Workstation: "assembly", SetupMinutes: 15, RunMinutes: 12},
					{Code: "inspect", Name: "Inspection", Workstation: "inspection", SetupMinutes: 10, RunMinutes: 2},
				},
			},
		},
	}
}
