// Command shoal runs a shoal agent and talks to one. See README.md and
// `shoal help`.
package main

import (
	"os"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
