package testenv

import "testing"

// startContainer would start the service with testcontainers-go when a
// Docker engine is reachable. It reports false when it cannot.
func startContainer(t testing.TB, name string) (string, bool) {
	t.Helper()
	return "", false
}
