//go:build !linux && !darwin && !windows

package process

func exe(int) string { return "" }
