package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"
)

// TestImagesFollowAppVersion: a chart release runs the images built from the same tag. The
// release workflow refuses a tag unless Chart.yaml's version and appVersion both equal it;
// the chart's default image tag is the appVersion.
func TestImagesFollowAppVersion(t *testing.T) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	app := chrt.Metadata.AppVersion
	if app == "" || app != chrt.Metadata.Version {
		t.Fatalf("Chart.yaml version %q and appVersion %q must be equal (docs/deploy.md, Releases)", chrt.Metadata.Version, app)
	}
	for _, vs := range []struct {
		name  string
		files []string
		sets  []string
		tag   string
	}{
		{name: "default", tag: app},
		{name: "production", files: []string{"values-production.yaml"}, tag: app},
		{name: "pinned", sets: []string{"image.tag=1.2.3-rc.1"}, tag: "1.2.3-rc.1"},
	} {
		t.Run(vs.name, func(t *testing.T) {
			for name, spec := range podSpecs(mustRender(t, vs.files, append(vs.sets, "dashboard.enabled=true")...)) {
				for _, c := range append(spec.InitContainers, spec.Containers...) {
					if !strings.Contains(c.Image, "/tally-") {
						continue // Kafka tools, busybox: third-party images with their own tags
					}
					if _, tag, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/"):], ":"); tag != vs.tag {
						t.Errorf("%s/%s runs %s, want tag %s", name, c.Name, c.Image, vs.tag)
					}
				}
			}
		})
	}
}

// workflow is the part of a GitHub Actions workflow the release checks read.
type workflow struct {
	On   map[string]any `json:"on"`
	Jobs map[string]struct {
		Needs    any `json:"needs"`
		Strategy struct {
			Matrix struct {
				Include []map[string]string `json:"include"`
			} `json:"matrix"`
		} `json:"strategy"`
		Permissions map[string]string `json:"permissions"`
		Steps       []struct {
			Name string         `json:"name"`
			Uses string         `json:"uses"`
			Run  string         `json:"run"`
			With map[string]any `json:"with"`
		} `json:"steps"`
	} `json:"jobs"`
}

func readWorkflow(t *testing.T, name string) workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", ".github", "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	// YAML 1.2, as GitHub reads workflows: under YAML 1.1 (sigs.k8s.io/yaml) the key `on`
	// would be the boolean true.
	var raw map[string]any
	if err := yamlv3.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	j, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := json.Unmarshal(j, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return w
}

// TestReleaseWorkflowBuildsWhatTheChartRuns checks the release workflow against the chart
// and the Dockerfiles (actionlint, in make lint-deploy, checks its syntax and expressions).
func TestReleaseWorkflowBuildsWhatTheChartRuns(t *testing.T) {
	w := readWorkflow(t, "release.yml")
	push, _ := w.On["push"].(map[string]any)
	if tags, _ := push["tags"].([]any); len(tags) == 0 {
		t.Error("release does not run on version tags")
	}
	if len(w.On) != 1 {
		t.Errorf("release runs on %v, want version tags only", w.On)
	}

	images := w.Jobs["images"]
	var components []string
	for _, inc := range images.Strategy.Matrix.Include {
		components = append(components, inc["component"])
	}
	sort.Strings(components)
	var want []string
	for path := range dockerfiles {
		want = append(want, filepath.Base(filepath.Dir(path)))
	}
	sort.Strings(want)
	if strings.Join(components, ",") != strings.Join(want, ",") {
		t.Errorf("release builds %v, the repository has Dockerfiles for %v", components, want)
	}

	values := readValues(t)
	for _, c := range components {
		component, _ := values[c].(map[string]any)
		image, _ := component["image"].(map[string]any)
		if repo := image["repository"]; repo != "tally-"+c {
			t.Errorf("chart runs %v for %s, the release pushes tally-%s", repo, c, c)
		}
	}

	var build map[string]any
	for _, s := range images.Steps {
		if strings.HasPrefix(s.Uses, "docker/build-push-action@") {
			build = s.With
		}
	}
	if build == nil {
		t.Fatal("no docker/build-push-action step")
	}
	for key, want := range map[string]any{
		"platforms":  "linux/amd64,linux/arm64",
		"push":       true,
		"sbom":       true,
		"provenance": "mode=max",
		"file":       "${{ matrix.component }}/Dockerfile",
		"context":    ".",
	} {
		if build[key] != want {
			t.Errorf("build-push %s = %v, want %v", key, build[key], want)
		}
	}
	if !strings.Contains(build["labels"].(string), "steps.meta.outputs.labels") {
		t.Error("images get no OCI labels from docker/metadata-action")
	}
	if images.Permissions["packages"] != "write" {
		t.Error("the image job cannot push to ghcr.io (packages: write)")
	}

	chart := w.Jobs["chart"]
	var script strings.Builder
	for _, s := range chart.Steps {
		script.WriteString(s.Run)
	}
	for _, want := range []string{"helm package", "--app-version", "helm push", "oci://"} {
		if !strings.Contains(script.String(), want) {
			t.Errorf("chart job does not run %q", want)
		}
	}
	var verify strings.Builder
	for _, s := range w.Jobs["verify"].Steps {
		verify.WriteString(s.Run)
	}
	if !strings.Contains(verify.String(), "appVersion") {
		t.Error("the release does not check the tag against Chart.yaml's appVersion")
	}
}

func readValues(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCIWorkflowRunsCIRun(t *testing.T) {
	w := readWorkflow(t, "ci.yml")
	found := false
	for _, job := range w.Jobs {
		for _, s := range job.Steps {
			found = found || strings.Contains(s.Run, "bash .ci/run")
		}
	}
	if !found {
		t.Error("ci.yml does not run bash .ci/run")
	}
}
