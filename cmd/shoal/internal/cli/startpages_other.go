//go:build !linux

package cli

import "errors"

// dropStartupPages is Linux-only (see startpages_linux.go); elsewhere the
// agent keeps what start-up mapped.
func dropStartupPages() (beforeKB, afterKB int, err error) {
	return 0, 0, errors.ErrUnsupported
}
