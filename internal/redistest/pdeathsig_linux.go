package redistest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill the child when this process dies, even
// by SIGKILL, so no redis-server outlives its test binary.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
