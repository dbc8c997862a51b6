package deploy

import (
	"os"
	"os/exec"
)

// FindHAProxy returns the path of the haproxy binary, or "" if there is
// none. Debian installs it in /usr/sbin, which ordinary users' PATH lacks.
func FindHAProxy() string {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
