// Command healthcheck is the container health probe of Tally's distroless images, which
// have no shell, curl or wget. It GETs one URL and exits 0 on a 2xx answer, 1 otherwise,
// so `docker compose` (HEALTHCHECK) can gate depends_on on a service's /healthz or /readyz.
//
// It uses only the standard library: the Dockerfiles build it from this single file,
// outside any module, next to the service binary.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: healthcheck URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return probe(ctx, http.DefaultClient, args[0])
}

// probe returns nil when url answers 2xx.
func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("get %s: status %d", url, resp.StatusCode)
	}
	return nil
}
