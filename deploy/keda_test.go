package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const kedaGroup = "keda.sh"

// scaledObject mirrors KEDA's keda.sh/v1alpha1 ScaledObject (apis/keda/v1alpha1 at v2.21.0)
// field for field, so a strict decode rejects what the CRD's schema would: an unknown or
// misplaced field, or a non-string trigger metadata value.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		ScaleTargetRef *struct {
			Name                   string `json:"name"`
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32 `json:"pollingInterval,omitempty"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
		CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
		IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
		Advanced              *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
				Name     string                                         `json:"name,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			ScalingModifiers              *struct {
				Formula          string `json:"formula,omitempty"`
				Target           string `json:"target,omitempty"`
				ActivationTarget string `json:"activationTarget,omitempty"`
				MetricType       string `json:"metricType,omitempty"`
			} `json:"scalingModifiers,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
			MetricType string `json:"metricType,omitempty"`
		} `json:"triggers"`
		Fallback *struct {
			FailureThreshold int32  `json:"failureThreshold"`
			Replicas         int32  `json:"replicas"`
			Behavior         string `json:"behavior,omitempty"`
		} `json:"fallback,omitempty"`
	} `json:"spec"`
}

// authTarget is KEDA's AuthSecretTargetRef / AuthEnvironment.
type authTarget struct {
	Parameter     string `json:"parameter"`
	Name          string `json:"name"`
	Key           string `json:"key,omitempty"`
	ContainerName string `json:"containerName,omitempty"`
}

// triggerAuthentication mirrors the parts of KEDA's TriggerAuthentication the chart uses;
// anything else is an unknown field.
type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SecretTargetRef []authTarget `json:"secretTargetRef,omitempty"`
		Env             []authTarget `json:"env,omitempty"`
	} `json:"spec"`
}

func decodeKEDA(meta metav1.TypeMeta, doc string) (any, error) {
	if meta.APIVersion != kedaGroup+"/v1alpha1" {
		return nil, fmt.Errorf("unknown KEDA version %q", meta.APIVersion)
	}
	var out any
	switch meta.Kind {
	case "ScaledObject":
		out = &scaledObject{}
	case "TriggerAuthentication":
		out = &triggerAuthentication{}
	default:
		return nil, fmt.Errorf("unknown KEDA kind %q", meta.Kind)
	}
	if err := strictYAML(doc, out); err != nil {
		return nil, err
	}
	return out, nil
}

// strictYAML decodes like the API server validates a custom resource: no duplicate or
// unknown fields (UnmarshalStrict), and no value of the wrong JSON type. The second pass
// matters because sigs.k8s.io/yaml turns `lagThreshold: 5` into the string "5" when the
// target is a string, while the CRD schema refuses a number where it wants a string.
func strictYAML(doc string, out any) error {
	if err := yaml.UnmarshalStrict([]byte(doc), out); err != nil {
		return err
	}
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

type kedaObjects struct {
	scaled *scaledObject
	auths  map[string]*triggerAuthentication
}

func collectKEDA(objs []rendered) kedaObjects {
	k := kedaObjects{auths: map[string]*triggerAuthentication{}}
	for _, r := range objs {
		switch o := r.obj.(type) {
		case *scaledObject:
			k.scaled = o
		case *triggerAuthentication:
			k.auths[o.Name] = o
		}
	}
	return k
}

func TestKEDAOffByDefault(t *testing.T) {
	objs := mustRender(t, nil)
	if k := collectKEDA(objs); k.scaled != nil || len(k.auths) != 0 {
		t.Fatal("default values render KEDA objects")
	}
	if d := deployments(objs)["tally-processor"]; d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("processor replicas = %v, want replicaCount 2", d.Spec.Replicas)
	}
}

func TestKEDAScalesProcessorsOnLag(t *testing.T) {
	objs := mustRender(t, nil, "processor.keda.enabled=true", "kafka.rawTopic=raw.v2",
		"kafka.brokers={b1:9092,b2:9092}", "processor.keda.lagThreshold=2500")
	k := collectKEDA(objs)
	so := k.scaled
	if so == nil {
		t.Fatal("no ScaledObject")
	}
	d := deployments(objs)["tally-processor"]
	ref := so.Spec.ScaleTargetRef
	if ref == nil || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != d.Name {
		t.Errorf("scaleTargetRef %+v does not name the processor Deployment %s", ref, d.Name)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("processor Deployment pins replicas=%d while KEDA owns them", *d.Spec.Replicas)
	}
	if got := so.Spec.MaxReplicaCount; got == nil || *got != 8 {
		t.Errorf("maxReplicaCount = %v, want kafka.partitions (8)", got)
	}
	if got := so.Spec.MinReplicaCount; got == nil || *got != 1 {
		t.Errorf("minReplicaCount = %v, want 1", got)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("triggers = %+v, want one kafka trigger", so.Spec.Triggers)
	}
	tr := so.Spec.Triggers[0]
	env := envOf(d.Spec.Template.Spec.Containers[0])
	for key, want := range map[string]string{
		"consumerGroup":      env["TALLY_CONSUMER_GROUP"].Value,
		"topic":              env["TALLY_RAW_TOPIC"].Value,
		"bootstrapServers":   env["TALLY_KAFKA_BROKERS"].Value,
		"lagThreshold":       "2500",
		"offsetResetPolicy":  "earliest",
		"allowIdleConsumers": "false",
	} {
		if tr.Metadata[key] != want {
			t.Errorf("trigger %s = %q, want %q (what the processors use)", key, tr.Metadata[key], want)
		}
	}
	if tr.Metadata["topic"] != "raw.v2" || tr.Metadata["consumerGroup"] != "tally-processor" {
		t.Errorf("trigger topic/group = %q/%q", tr.Metadata["topic"], tr.Metadata["consumerGroup"])
	}
	if tr.AuthenticationRef != nil || len(k.auths) != 0 {
		t.Error("plaintext Kafka got a TriggerAuthentication")
	}
	b := so.Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior
	if b == nil || b.ScaleDown == nil || *b.ScaleDown.StabilizationWindowSeconds != 300 {
		t.Errorf("scale-down behaviour %+v: processors must scale in slowly", b)
	}
}

func TestKEDAWithSASLAndTLS(t *testing.T) {
	objs := mustRender(t, nil, "processor.keda.enabled=true", "kafka.sasl.enabled=true",
		"kafka.sasl.username=tally", "kafka.sasl.mechanism=SCRAM-SHA-256", "kafka.tls.enabled=true",
		"existingSecret=creds")
	k := collectKEDA(objs)
	tr := k.scaled.Spec.Triggers[0]
	if tr.Metadata["sasl"] != "scram_sha256" || tr.Metadata["tls"] != "enable" {
		t.Errorf("trigger sasl/tls = %q/%q", tr.Metadata["sasl"], tr.Metadata["tls"])
	}
	if tr.AuthenticationRef == nil {
		t.Fatal("SASL without an authenticationRef")
	}
	auth := k.auths[tr.AuthenticationRef.Name]
	if auth == nil {
		t.Fatalf("authenticationRef %q names no rendered TriggerAuthentication", tr.AuthenticationRef.Name)
	}
	// The credentials must be the processor's own: its container and env, its Secret.
	c := deployments(objs)["tally-processor"].Spec.Template.Spec.Containers[0]
	env := envOf(c)
	params := map[string]authTarget{}
	for _, a := range append(auth.Spec.Env, auth.Spec.SecretTargetRef...) {
		params[a.Parameter] = a
	}
	if u := params["username"]; u.ContainerName != c.Name || env[u.Name].Value != "tally" {
		t.Errorf("username from container %q variable %q: not the processor's SASL user", u.ContainerName, u.Name)
	}
	pw := env["TALLY_KAFKA_SASL_PASSWORD"].ValueFrom.SecretKeyRef
	if p := params["password"]; p.Name != pw.Name || p.Key != pw.Key {
		t.Errorf("password from %s/%s, the processor reads %s/%s", p.Name, p.Key, pw.Name, pw.Key)
	}

	// A TriggerAuthentication of the user's replaces the chart's.
	k = collectKEDA(mustRender(t, nil, "processor.keda.enabled=true", "kafka.sasl.enabled=true",
		"kafka.sasl.username=tally", "processor.keda.authenticationRef=platform-kafka"))
	if len(k.auths) != 0 || k.scaled.Spec.Triggers[0].AuthenticationRef.Name != "platform-kafka" {
		t.Errorf("authenticationRef override not used: %d rendered, ref %+v", len(k.auths), k.scaled.Spec.Triggers[0].AuthenticationRef)
	}
}

func TestKEDARefusesContradictions(t *testing.T) {
	for _, tc := range []struct {
		sets    []string
		wantErr string
	}{
		{[]string{"processor.keda.enabled=true", "processor.keda.maxReplicaCount=9"}, "must not exceed kafka.partitions"},
		{[]string{"processor.keda.enabled=true", "processor.keda.minReplicaCount=5", "processor.keda.maxReplicaCount=4"}, "must not exceed the maximum"},
		{[]string{"processor.keda.enabled=true", "processor.keda.minReplicaCount=0"}, "minReplicaCount"},
	} {
		if _, err := renderChart(t, nil, tc.sets...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: render error = %v, want %q", tc.sets, err, tc.wantErr)
		}
	}
	if _, err := renderChart(t, nil, "processor.keda.enabled=true", "processor.keda.maxReplicaCount=8"); err != nil {
		t.Errorf("maxReplicaCount == partitions refused: %v", err)
	}
}

func TestKEDADecoderIsStrict(t *testing.T) {
	good := `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: x}
spec:
  scaleTargetRef: {name: d}
  triggers:
    - type: kafka
      metadata: {lagThreshold: "5"}
`
	if _, err := decodeStrict(good); err != nil {
		t.Fatalf("valid ScaledObject refused: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":        strings.Replace(good, "scaleTargetRef:", "scaleTarget:", 1),
		"number in metadata":   strings.Replace(good, `lagThreshold: "5"`, "lagThreshold: 5", 1),
		"misplaced field":      strings.Replace(good, "  triggers:", "  maxReplicas: 3\n  triggers:", 1),
		"unknown kind":         strings.Replace(good, "ScaledObject", "ScaledJobb", 1),
		"unknown version":      strings.Replace(good, "v1alpha1", "v1", 1),
		"auth unknown field":   "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\nspec:\n  secretTargetRefs: []\n",
		"auth misplaced field": "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\nspec:\n  env: [{parameter: p, name: n, secret: s}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeStrict(doc); err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
		})
	}
}
