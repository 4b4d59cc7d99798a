//go:build unix && !linux

package main

import "github.com/healthsim/healthsim-go/dbx"

// fileHolders names a holder of the file at path (see getlkHolder): on
// macOS and the BSDs the kernel names one at a time.
func fileHolders(path string) ([]Holder, string, error) {
	h, held, err := getlkHolder(path)
	if err != nil || !held {
		return nil, "", err
	}
	caveat := ""
	if h.Mode == dbx.ReadOnly {
		caveat = "Other processes may hold it read-only too: this system names one holder at a time."
	}
	return []Holder{h}, caveat, nil
}
