package deploy

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfiles lists every image Tally ships with the port it must expose.
var dockerfiles = map[string]string{
	"../ingestor/Dockerfile":  "8080",
	"../processor/Dockerfile": "8082",
	"../queryapi/Dockerfile":  "8081",
	"../dashboard/Dockerfile": "3000",
}

// image is what the checks need to know about one parsed Dockerfile.
type image struct {
	stages     []instructions.Stage
	finalUser  string
	exposed    []string
	copiesFrom map[string]bool
	runs       []string
	hasHealth  bool
}

func parseDockerfile(src string) (*image, error) {
	res, err := parser.Parse(strings.NewReader(src))
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, err
	}
	img := &image{stages: stages, copiesFrom: map[string]bool{}}
	for i, st := range stages {
		final := i == len(stages)-1
		for _, cmd := range st.Commands {
			switch c := cmd.(type) {
			case *instructions.UserCommand:
				if final {
					img.finalUser = c.User
				}
			case *instructions.ExposeCommand:
				if final {
					img.exposed = append(img.exposed, c.Ports...)
				}
			case *instructions.CopyCommand:
				if c.From != "" {
					img.copiesFrom[c.From] = true
				}
			case *instructions.RunCommand:
				img.runs = append(img.runs, strings.Join(c.CmdLine, " "))
			case *instructions.HealthCheckCommand:
				img.hasHealth = final
			}
		}
	}
	return img, nil
}

// checkImage returns what is wrong with a Tally image.
func checkImage(img *image, port string) []string {
	var problems []string
	if len(img.stages) < 2 {
		problems = append(problems, "not a multi-stage build")
	}
	if len(img.copiesFrom) == 0 {
		problems = append(problems, "final stage copies nothing from a build stage")
	}
	if isRootUser(img.finalUser) {
		problems = append(problems, "final stage runs as root (USER missing, root or 0)")
	}
	found := false
	for _, p := range img.exposed {
		found = found || strings.TrimSuffix(p, "/tcp") == port
	}
	if !found {
		problems = append(problems, "does not EXPOSE "+port)
	}
	if !img.hasHealth {
		problems = append(problems, "no HEALTHCHECK in the final stage")
	}
	return problems
}

func isRootUser(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "" || name == "root" || name == "0"
}

func TestDockerfiles(t *testing.T) {
	for path, port := range dockerfiles {
		t.Run(path, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			img, err := parseDockerfile(string(src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for _, p := range checkImage(img, port) {
				t.Error(p)
			}
			if strings.Contains(path, "dashboard") {
				joined := strings.Join(img.runs, "\n")
				if !strings.Contains(joined, "npm ci") || !strings.Contains(joined, "npm run build") {
					t.Errorf("dashboard build does not run npm ci and npm run build: %q", joined)
				}
				if err := supportedNodeLTS(string(src), time.Now()); err != nil {
					t.Error(err)
				}
				return
			}
			text := string(src)
			// Multi-platform release builds (amd64 and arm64) cross-compile instead of emulating.
			for _, want := range []string{"GOWORK=off", "CGO_ENABLED=0", "COPY event/", "distroless/static",
				"FROM --platform=$BUILDPLATFORM golang", "GOARCH=${TARGETARCH}"} {
				if !strings.Contains(text, want) {
					t.Errorf("Go image does not contain %q", want)
				}
			}
		})
	}
}

// TestDockerfileChecksCanFail feeds the checks images that must be refused.
func TestDockerfileChecksCanFail(t *testing.T) {
	bad := map[string]string{
		"single stage":             "FROM golang:1.26\nRUN go build -o /app .\nUSER 65532\nEXPOSE 8080\nHEALTHCHECK CMD [\"/app\"]\n",
		"root user":                "FROM golang:1.26 AS build\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nUSER root\nEXPOSE 8080\nHEALTHCHECK CMD [\"/app\"]\n",
		"no user":                  "FROM golang:1.26 AS build\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nEXPOSE 8080\nHEALTHCHECK CMD [\"/app\"]\n",
		"user only in build stage": "FROM golang:1.26 AS build\nUSER 65532\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nEXPOSE 8080\nHEALTHCHECK CMD [\"/app\"]\n",
		"wrong port":               "FROM golang:1.26 AS build\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nUSER 65532\nEXPOSE 9999\nHEALTHCHECK CMD [\"/app\"]\n",
	}
	for name, src := range bad {
		t.Run(name, func(t *testing.T) {
			img, err := parseDockerfile(src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if problems := checkImage(img, "8080"); len(problems) == 0 {
				t.Fatal("checks accepted a bad image")
			}
		})
	}
	if _, err := parseDockerfile("FROM golang:1.26 AS build\nCOPY --frm=build /a /b\n"); err == nil {
		t.Error("parser accepted an unknown COPY flag")
	}
}

// nodeLTSEnd is the end of life of each Node.js LTS line (nodejs.org release schedule).
var nodeLTSEnd = map[string]string{
	"20": "2026-04-30",
	"22": "2027-04-30",
	"24": "2028-04-30",
	"26": "2029-04-30",
}

var nodeVersionArg = regexp.MustCompile(`(?m)^ARG NODE_VERSION=(\d+)\s*$`)

// supportedNodeLTS checks that a Dockerfile builds on a Node.js LTS line that is still
// supported on the given day.
func supportedNodeLTS(dockerfile string, now time.Time) error {
	m := nodeVersionArg.FindStringSubmatch(dockerfile)
	if m == nil {
		return fmt.Errorf("no ARG NODE_VERSION=<major> in the dashboard Dockerfile")
	}
	end, ok := nodeLTSEnd[m[1]]
	if !ok {
		return fmt.Errorf("node %s is not a known LTS line (see nodeLTSEnd)", m[1])
	}
	eol, err := time.Parse(time.DateOnly, end)
	if err != nil {
		return err
	}
	if !now.Before(eol) {
		return fmt.Errorf("node %s reached its end of life on %s: move the dashboard image to a supported LTS line", m[1], end)
	}
	return nil
}

func TestSupportedNodeLTSCanFail(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := supportedNodeLTS("ARG NODE_VERSION=24\n", day); err != nil {
		t.Fatalf("node 24 refused in 2026: %v", err)
	}
	for name, src := range map[string]string{
		"end of life": "ARG NODE_VERSION=20\n",
		"odd release": "ARG NODE_VERSION=25\n",
		"not pinned":  "ARG NODE_VERSION\n",
		"no version":  "FROM node:lts\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := supportedNodeLTS(src, day); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := supportedNodeLTS("ARG NODE_VERSION=22\n", time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("node 22 accepted after its end of life")
	}
}
