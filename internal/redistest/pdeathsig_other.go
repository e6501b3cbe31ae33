//go:build !linux

package redistest

import "os/exec"

// setPdeathsig: outside Linux there is no parent-death signal; the server
// is stopped by Stop (redistest.Main) and otherwise outlives a killed test.
func setPdeathsig(*exec.Cmd) {}
