// Package buildinfo says which build of a service runs: the version a
// release pipeline stamps into the binary (LDFlag), else what the Go
// toolchain recorded (the module version or the commit). A service reports
// it on /healthz and in its start line, so that an operator can see which
// replicas a rolling update has replaced.
package buildinfo

import "runtime/debug"

// version is written by the linker only (LDFlag); nothing assigns it.
var version string

// symbol is version's full name for the linker's -X.
const symbol = "github.com/fabrika/fabrika/platform/buildinfo.version"

// LDFlag is the linker flag that stamps v as the version of a binary:
// go build -ldflags "$(LDFlag(v))". v must not contain spaces.
func LDFlag(v string) string { return "-X " + symbol + "=" + v }

// Version is the stamped version, else the main module's version as the Go
// toolchain recorded it (a pseudo-version from the commit when built in the
// repository), else the commit, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	rev = rev[:min(len(rev), 12)]
	if modified == "true" {
		rev += "+dirty"
	}
	return rev
}
