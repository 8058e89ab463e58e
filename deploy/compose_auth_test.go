package deploy

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// secretUsers are the compose services that run the ingestor or processor binary: each
// validates the tenant-signing secret at start (the processor's tools included).
var secretUsers = []string{"ingestor", "processor", "migrate", "keys-map", "keys-admin", "keys-default"}

// keysJobs are the one-shot control-plane jobs; every Tally service starts after them.
var keysJobs = []string{"keys-map", "keys-admin", "keys-default"}

// volumeAt returns the volume mounted at target in svc.
func volumeAt(svc types.ServiceConfig, target string) (types.ServiceVolumeConfig, bool) {
	for _, v := range svc.Volumes {
		if v.Target == target {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// mountsVolume reports whether svc mounts the named volume anywhere.
func mountsVolume(svc types.ServiceConfig, name string) bool {
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == name {
			return true
		}
	}
	return false
}

func envValue(svc types.ServiceConfig, key string) (string, bool) {
	v, ok := svc.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// TestComposeTenantSecret follows the tenant-signing secret from the job that writes it to
// every service that reads it: the same file, in the same volume, mounted read-only, after the
// writer finished.
func TestComposeTenantSecret(t *testing.T) {
	project, err := loadCompose(t, composeFile)
	if err != nil {
		t.Fatal(err)
	}
	init, ok := project.Services["auth-init"]
	if !ok {
		t.Fatal("no auth-init service")
	}
	script := strings.Join(init.Command, "\n")
	for name, svc := range project.Services {
		if _, plain := svc.Environment["TALLY_TENANT_SECRET"]; plain {
			t.Errorf("%s: the tenant secret is written into compose.yaml (TALLY_TENANT_SECRET)", name)
		}
	}
	for _, name := range secretUsers {
		svc := project.Services[name]
		file, ok := envValue(svc, "TALLY_TENANT_SECRET_FILE")
		if !ok || !path.IsAbs(file) {
			t.Errorf("%s: TALLY_TENANT_SECRET_FILE = %q, want an absolute path", name, file)
			continue
		}
		dir := path.Dir(file)
		mine, ok := volumeAt(svc, dir)
		if !ok || mine.Type != types.VolumeTypeVolume || !mine.ReadOnly {
			t.Errorf("%s: no read-only volume at %s (%+v)", name, dir, mine)
			continue
		}
		// auth-init writes the same file into the same volume, at the same place.
		theirs, ok := volumeAt(init, dir)
		if !ok || theirs.Source != mine.Source || theirs.ReadOnly {
			t.Errorf("%s reads volume %q at %s; auth-init mounts %+v there", name, mine.Source, dir, theirs)
		}
		if !strings.Contains(script, file) {
			t.Errorf("auth-init's script does not write %s:\n%s", file, script)
		}
		if got := svc.DependsOn["auth-init"].Condition; got != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: starts before auth-init completed (condition %q)", name, got)
		}
		if got, _ := envValue(svc, "TALLY_AUTH"); got != "enabled" {
			t.Errorf("%s: TALLY_AUTH = %q, want enabled", name, got)
		}
	}
	// The secret is made once, from the kernel's random source, and kept on later starts.
	for _, want := range []string{"/dev/urandom", `[ ! -s "$secret" ]`, "chown 65532:65532", "chmod 0400"} {
		if !strings.Contains(script, want) {
			t.Errorf("auth-init's script lacks %q:\n%s", want, script)
		}
	}
	if init.Restart != "no" || init.NetworkMode != "none" || !init.ReadOnly || !contains(init.CapDrop, "ALL") {
		t.Errorf("auth-init: want a one-shot, offline, read-only job with every capability dropped: %+v", init)
	}
	if extra := slices.DeleteFunc(slices.Clone(init.CapAdd), func(c string) bool { return c == "CHOWN" || c == "FOWNER" }); len(extra) > 0 {
		t.Errorf("auth-init adds capabilities beyond CHOWN and FOWNER: %v", extra)
	}
	// The query API neither signs nor verifies tenants: it gets no secret.
	queryapi := project.Services["queryapi"]
	if _, ok := queryapi.Environment["TALLY_TENANT_SECRET_FILE"]; ok || mountsVolume(queryapi, "auth-secret") {
		t.Error("queryapi receives the tenant secret, which it does not need")
	}
	if got, _ := envValue(queryapi, "TALLY_AUTH"); got != "enabled" {
		t.Errorf("queryapi: TALLY_AUTH = %q, want enabled", got)
	}
}

// TestComposeBootstrapKeys checks the control-plane jobs: what each runs, that they run after
// the control topic exists, that every Tally service waits for them, and that only they (and
// auth-init, which hands the volume to their user) see the keys.
func TestComposeBootstrapKeys(t *testing.T) {
	project, err := loadCompose(t, composeFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := envValue(project.Services["ingestor"], "TALLY_RAW_TOPIC")
	wantCommands := map[string][]string{
		"keys-map":     {"keys", "map", "--topic", raw, "--tenant", "default"},
		"keys-admin":   {"keys", "ensure", "--out", "/keys/admin.key", "--tenant", "default", "--scopes", "admin", "--name", "compose-admin"},
		"keys-default": {"keys", "ensure", "--out", "/keys/default.key", "--tenant", "default", "--scopes", "ingest,query", "--name", "compose-default"},
	}
	for _, name := range keysJobs {
		svc := project.Services[name]
		if !slices.Equal(svc.Command, wantCommands[name]) {
			t.Errorf("%s: command %q, want %q", name, svc.Command, wantCommands[name])
		}
		if !strings.Contains(svc.Image, "tally-processor") {
			t.Errorf("%s: image %q is not the processor", name, svc.Image)
		}
		// `processor migrate` creates the control topic the keys are written to.
		if got := svc.DependsOn["migrate"].Condition; got != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: may run before migrate created the control topic (condition %q)", name, got)
		}
		if v, ok := volumeAt(svc, "/keys"); !ok || v.Source != "api-keys" || v.ReadOnly {
			t.Errorf("%s: the api-keys volume is not writable at /keys: %+v", name, v)
		}
	}
	for _, name := range []string{"ingestor", "processor", "queryapi"} {
		for _, job := range keysJobs {
			if got := project.Services[name].DependsOn[job].Condition; got != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s: starts before %s completed (condition %q)", name, job, got)
			}
		}
	}
	for name, svc := range project.Services {
		if mountsVolume(svc, "api-keys") && name != "auth-init" && !slices.Contains(keysJobs, name) {
			t.Errorf("%s mounts the api-keys volume; only the keys jobs need it", name)
		}
	}
	// In containers the dashboard injects no key: its users sign in with one.
	for key := range project.Services["dashboard"].Environment {
		if strings.Contains(key, "KEY") {
			t.Errorf("dashboard receives %s; it must inject no key", key)
		}
	}
	if _, ok := project.Volumes["api-keys"]; !ok {
		t.Error("no named volume api-keys")
	}
}

// TestComposeCORS: the query API allows other browser origins only when the user names them.
func TestComposeCORS(t *testing.T) {
	unset, err := loadCompose(t, composeFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := envValue(unset.Services["queryapi"], "TALLY_CORS_ORIGINS"); got != "" {
		t.Errorf("queryapi allows origins %q by default, want none", got)
	}
	origins := "https://dash.example.com,http://localhost:5173"
	set, err := loadCompose(t, composeFile, "TALLY_CORS_ORIGINS="+origins)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := envValue(set.Services["queryapi"], "TALLY_CORS_ORIGINS"); got != origins {
		t.Errorf("queryapi TALLY_CORS_ORIGINS = %q, want %q from the shell", got, origins)
	}
	for name, svc := range set.Services {
		if _, ok := svc.Environment["TALLY_CORS_ORIGINS"]; ok && name != "queryapi" {
			t.Errorf("%s receives TALLY_CORS_ORIGINS; only the query API reads it", name)
		}
	}
	// The fault switchboard stays off unless the shell turns it on.
	if got, _ := envValue(set.Services["processor"], "TALLY_FAULT_INJECTION"); got != "false" {
		t.Errorf("processor TALLY_FAULT_INJECTION = %q, want false", got)
	}
}
