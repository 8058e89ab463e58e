package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	tests := []struct {
		path    string
		wantErr bool
	}{
		{"/healthz", false},
		{"/readyz", true},
		{"/missing", true},
	}
	for _, tt := range tests {
		err := probe(context.Background(), srv.Client(), srv.URL+tt.path)
		if (err != nil) != tt.wantErr {
			t.Errorf("probe(%s) error = %v, want error %v", tt.path, err, tt.wantErr)
		}
	}
	if err := run(nil); err == nil {
		t.Error("run without a URL succeeded, want a usage error")
	}
	if err := probe(context.Background(), srv.Client(), "http://127.0.0.1:1/healthz"); err == nil {
		t.Error("probe of a closed port succeeded")
	}
}
