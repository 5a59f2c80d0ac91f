package cli

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// verbFlags is a verb's flag set with the checks that verbs share, made
// once the flags are parsed: how many positional arguments there are,
// -format, and durations that must not be negative. Each failure is a
// usage error: one line naming the verb, exit status 2.
type verbFlags struct {
	*flag.FlagSet
	e         env
	format    *string
	durations []namedDuration
	// strayHint follows the usage error that names an argument a
	// flags-only verb did not expect.
	strayHint string
}

type namedDuration struct {
	name string
	d    *time.Duration
}

// anyNumber is parseArgs's max for a verb that takes any number of
// positional arguments.
const anyNumber = -1

// newFlags returns a verb's flag set, writing its errors and usage to stderr.
func newFlags(e env, name, args string) *verbFlags {
	fs := flag.NewFlagSet("shoal "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: shoal %s %s\n\n%s.\n\nOptions:\n", name, args, verbs[name].synopsis)
		fs.PrintDefaults()
	}
	return &verbFlags{FlagSet: fs, e: e}
}

// client adds -http-addr and -http-token, for a verb that calls the agent.
func (f *verbFlags) client() *client { return clientFlags(f.FlagSet) }

// formatFlag adds -format, text (the default) or json; parse refuses any
// other value.
func (f *verbFlags) formatFlag(usage string) *string {
	f.format = f.String("format", "text", usage)
	return f.format
}

// durationFlag adds a duration flag, 0 by default, that parse refuses when
// negative.
func (f *verbFlags) durationFlag(name, usage string) *time.Duration {
	d := f.Duration(name, 0, usage)
	f.durations = append(f.durations, namedDuration{name, d})
	return d
}

// parse parses the flags of a verb that takes no positional arguments.
func (f *verbFlags) parse(args []string) (int, bool) {
	if code, ok := parseFlagSet(f.FlagSet, args); !ok {
		return code, false
	}
	if f.NArg() > 0 {
		return f.usageErr("unexpected argument %q%s", f.Arg(0), f.strayHint), false
	}
	return f.check()
}

// parseArgs parses the flags of a verb that takes min to max positional
// arguments (max anyNumber: no limit); msg is the usage error for another
// count.
func (f *verbFlags) parseArgs(args []string, min, max int, msg string) (int, bool) {
	if code, ok := parseFlagSet(f.FlagSet, args); !ok {
		return code, false
	}
	if f.NArg() < min || (max != anyNumber && f.NArg() > max) {
		return f.usageErr("%s", msg), false
	}
	return f.check()
}

// check makes the checks of -format and the durations.
func (f *verbFlags) check() (int, bool) {
	if f.format != nil && *f.format != "text" && *f.format != "json" {
		return f.usageErr("-format %q is not text or json", *f.format), false
	}
	for _, d := range f.durations {
		if *d.d < 0 {
			return f.usageErr("-%s %s is negative", d.name, *d.d), false
		}
	}
	return 0, true
}

// usageErr reports a usage mistake and returns exit status 2.
func (f *verbFlags) usageErr(format string, args ...any) int {
	fmt.Fprintf(f.e.stderr, "%s: %s (run `%s -h` for help)\n", f.Name(), fmt.Sprintf(format, args...), f.Name())
	return exitUsage
}

// parseFlagSet parses flags; the int is the exit status when ok is false.
func parseFlagSet(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}
