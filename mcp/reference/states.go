package reference

import "strings"

// state is a US state, the District of Columbia or a territory with a FIPS code.
type state struct{ fips, abbr, name string }

var states = []state{
	{"01", "AL", "Alabama"}, {"02", "AK", "Alaska"}, {"04", "AZ", "Arizona"},
	{"05", "AR", "Arkansas"}, {"06", "CA", "California"}, {"08", "CO", "Colorado"},
	{"09", "CT", "Connecticut"}, {"10", "DE", "Delaware"}, {"11", "DC", "District of Columbia"},
	{"12", "FL", "Florida"}, {"13", "GA", "Georgia"}, {"15", "HI", "Hawaii"},
	{"16", "ID", "Idaho"}, {"17", "IL", "Illinois"}, {"18", "IN", "Indiana"},
	{"19", "IA", "Iowa"}, {"20", "KS", "Kansas"}, {"21", "KY", "Kentucky"},
	{"22", "LA", "Louisiana"}, {"23", "ME", "Maine"}, {"24", "MD", "Maryland"},
	{"25", "MA", "Massachusetts"}, {"26", "MI", "Michigan"}, {"27", "MN", "Minnesota"},
	{"28", "MS", "Mississippi"}, {"29", "MO", "Missouri"}, {"30", "MT", "Montana"},
	{"31", "NE", "Nebraska"}, {"32", "NV", "Nevada"}, {"33", "NH", "New Hampshire"},
	{"34", "NJ", "New Jersey"}, {"35", "NM", "New Mexico"}, {"36", "NY", "New York"},
	{"37", "NC", "North Carolina"}, {"38", "ND", "North Dakota"}, {"39", "OH", "Ohio"},
	{"40", "OK", "Oklahoma"}, {"41", "OR", "Oregon"}, {"42", "PA", "Pennsylvania"},
	{"44", "RI", "Rhode Island"}, {"45", "SC", "South Carolina"}, {"46", "SD", "South Dakota"},
	{"47", "TN", "Tennessee"}, {"48", "TX", "Texas"}, {"49", "UT", "Utah"},
	{"50", "VT", "Vermont"}, {"51", "VA", "Virginia"}, {"53", "WA", "Washington"},
	{"54", "WV", "West Virginia"}, {"55", "WI", "Wisconsin"}, {"56", "WY", "Wyoming"},
	{"60", "AS", "American Samoa"}, {"66", "GU", "Guam"},
	{"69", "MP", "Northern Mariana Islands"}, {"72", "PR", "Puerto Rico"},
	{"78", "VI", "U.S. Virgin Islands"},
}

// stateByFIPS returns the state whose 2-digit FIPS code is fips.
func stateByFIPS(fips string) (state, bool) {
	for _, s := range states {
		if s.fips == fips {
			return s, true
		}
	}
	return state{}, false
}

// lookupState resolves a two-letter abbreviation, a full name (both case
// insensitive) or a 1- or 2-digit FIPS code.
func lookupState(in string) (state, bool) {
	in = strings.Join(strings.Fields(in), " ")
	if isDigits(in) && len(in) <= 2 {
		return stateByFIPS(strings.Repeat("0", 2-len(in)) + in)
	}
	for _, s := range states {
		if strings.EqualFold(in, s.abbr) || strings.EqualFold(in, s.name) {
			return s, true
		}
	}
	return state{}, false
}

// isDigits reports whether s is non-empty and only ASCII digits.
func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
