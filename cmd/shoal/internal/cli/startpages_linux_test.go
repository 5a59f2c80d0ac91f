package cli

import (
	"testing"
)

// TestDropStartupPages_UnmapsExecutablePages: after the drop, this test
// process holds fewer file-backed pages than before (its executable's
// pages, touched by start-up, are unmapped) and keeps running, faulting
// back what it uses (the code that reads the numbers below).
func TestDropStartupPages_UnmapsExecutablePages(t *testing.T) {
	before, after, err := dropStartupPages()
	if err != nil {
		t.Fatalf("dropStartupPages: %v", err)
	}
	if before <= 0 || after >= before {
		t.Fatalf("RssFile before %d kB, after %d kB: want after < before", before, after)
	}
	// The process still runs what it unmapped: the same calls again.
	if _, err := readOnlyMappings("/no/such/executable"); err == nil {
		t.Fatal("readOnlyMappings of a file that is not mapped: got no error, want one")
	}
	if kb, err := rssFileKB(); err != nil || kb <= 0 {
		t.Fatalf("rssFileKB after the drop: %d kB, %v", kb, err)
	}
}
