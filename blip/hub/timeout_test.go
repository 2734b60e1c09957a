package hub

import (
	"testing"
	"time"
)

// TestEnvTimeout: a positive number of seconds (below 1e9) sets the timeout; anything else
// (empty, zero, negative, not a number, absurdly large) leaves the Python client's 10 s.
func TestEnvTimeout(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": defaultTimeout, "0": defaultTimeout, "-3": defaultTimeout, "ten": defaultTimeout, "1e9": defaultTimeout, "NaN": defaultTimeout,
		"2.5": 2500 * time.Millisecond, "0.001": time.Millisecond, "999999999": 999999999 * time.Second,
	} {
		t.Setenv("BLIPGO_TEST_TIMEOUT", v)
		if got := envTimeout("BLIPGO_TEST_TIMEOUT"); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}
