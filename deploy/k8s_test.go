package deploy

import (
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite k8s/base/prometheusrule.yaml from prometheus/alerts.yml")

// services are the Deployments the manifests must hold, one per image this
// repository builds.
var services = []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"}

// rendered is one overlay, every object decoded strictly into its
// Kubernetes API type (an unknown or misspelt field fails the test).
type rendered struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	policies    []*networkingv1.NetworkPolicy
	ingresses   []*networkingv1.Ingress
	secrets     map[string]*corev1.Secret
	databases   map[string]map[string]any // CloudNativePG Clusters (no Go types here: checked by field)
	prometheus  []map[string]any
	namespace   string
}

func render(t *testing.T, overlay string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("k8s", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build k8s/overlays/%s: %v", overlay, err)
	}
	r := rendered{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		secrets: map[string]*corev1.Secret{}, databases: map[string]map[string]any{}}
	for _, res := range rm.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind, name := res.GetKind(), res.GetName()
		strict := func(v any) {
			t.Helper()
			if err := yaml.UnmarshalStrict(b, v); err != nil {
				t.Errorf("%s: %s %s does not decode strictly: %v", overlay, kind, name, err)
			}
		}
		if ns := res.GetNamespace(); ns == "" {
			t.Errorf("%s: %s %s has no namespace", overlay, kind, name)
		} else {
			r.namespace = ns
		}
		switch res.GetApiVersion() + " " + kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			strict(d)
			r.deployments[name] = d
		case "v1 Service":
			s := &corev1.Service{}
			strict(s)
			r.services[name] = s
		case "policy/v1 PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			strict(p)
			r.pdbs[name] = p
		case "autoscaling/v2 HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			strict(h)
			r.hpas[name] = h
		case "networking.k8s.io/v1 NetworkPolicy":
			p := &networkingv1.NetworkPolicy{}
			strict(p)
			r.policies = append(r.policies, p)
		case "networking.k8s.io/v1 Ingress":
			i := &networkingv1.Ingress{}
			strict(i)
			r.ingresses = append(r.ingresses, i)
		case "v1 Secret":
			s := &corev1.Secret{}
			strict(s)
			r.secrets[name] = s
		case "postgresql.cnpg.io/v1 Cluster":
			m := map[string]any{}
			strict(&m)
			r.databases[name] = m
		case "monitoring.coreos.com/v1 PrometheusRule":
			m := map[string]any{}
			strict(&m)
			r.prometheus = append(r.prometheus, m)
		default:
			t.Errorf("%s: unexpected object %s %s %s", overlay, res.GetApiVersion(), kind, name)
		}
	}
	return r
}

// operatorSecrets are created before the first apply in production
// (docs/deploy.md); <service>-db-app come from CloudNativePG.
var operatorSecrets = []string{"fabrika-admin", "fabrika-identity", "fabrika-mes-api"}

// required are the settings every service needs in production: nothing
// that has a development default may be left to it.
var required = []string{"FABRIKA_DSN", "FABRIKA_HTTP_ADDR", "FABRIKA_ADMIN_ADDR", "FABRIKA_ADMIN_TOKEN", "FABRIKA_NATS_URL",
	"FABRIKA_STREAM_REPLICAS", "FABRIKA_INSTANCE"}

func TestKubernetesOverlays(t *testing.T) {
	read := settingsRead(t)
	for _, overlay := range []string{"dev", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			r := render(t, overlay)
			for _, svc := range services {
				d := r.deployments[svc]
				if d == nil {
					t.Errorf("no Deployment %s", svc)
					continue
				}
				checkDeployment(t, overlay, svc, d, r, read[svc])
				if r.services[svc] == nil || r.services[svc].Spec.Type != "" && r.services[svc].Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("%s: Service %s missing or not ClusterIP", overlay, svc)
				}
				if p := r.pdbs[svc]; p == nil || p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() < 1 {
					t.Errorf("%s: %s has no PodDisruptionBudget keeping a replica", overlay, svc)
				}
				if db := r.databases[svc+"-db"]; db == nil {
					t.Errorf("%s: %s has no database cluster %s-db", overlay, svc, svc)
				} else {
					spec, _ := db["spec"].(map[string]any)
					boot, _ := spec["bootstrap"].(map[string]any)
					initdb, _ := boot["initdb"].(map[string]any)
					if initdb["database"] != strings.ReplaceAll(svc, "-", "_") || initdb["owner"] != initdb["database"] {
						t.Errorf("%s: %s-db bootstraps %v owned by %v", overlay, svc, initdb["database"], initdb["owner"])
					}
				}
			}
			for _, svc := range []string{"gateway", "shop"} {
				h := r.hpas[svc]
				if h == nil || h.Spec.ScaleTargetRef.Name != svc || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
					t.Errorf("%s: %s has no HorizontalPodAutoscaler of at least 2 replicas", overlay, svc)
				}
			}
			checkExposure(t, overlay, r)
			checkNetwork(t, overlay, r)
			checkSecrets(t, overlay, r)
			if len(r.prometheus) != 1 {
				t.Errorf("%s: %d PrometheusRules, want 1", overlay, len(r.prometheus))
			}
		})
	}
}

func checkDeployment(t *testing.T, overlay, svc string, d *appsv1.Deployment, r rendered, reads map[string]bool) {
	t.Helper()
	at := overlay + ": Deployment " + svc
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("%s: fewer than 2 replicas", at)
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: the pod may run as root", at)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it does not use", at)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers", at, len(pod.Containers))
	}
	c := pod.Containers[0]
	image := regexp.MustCompile(`^(ghcr\.io/)?fabrika/` + regexp.QuoteMeta(svc) + `:[0-9A-Za-z._-]+$`)
	if !image.MatchString(c.Image) {
		t.Errorf("%s: image %q is not this repository's %s image with a tag", at, c.Image, svc)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: the container needs a read-only root, no privilege escalation and no capabilities", at)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("%s: no %s request", at, res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("%s: no %s limit", at, res)
		}
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s: %s probe must be GET %s on the admin port", at, what, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	var admin int32
	for _, p := range c.Ports {
		if p.Name == "admin" {
			admin = p.ContainerPort
		}
	}
	set := map[string]bool{}
	for _, e := range c.Env {
		set[e.Name] = true
		if e.Name == "FABRIKA_ADMIN_ADDR" && e.Value != fmt.Sprintf(":%d", admin) {
			t.Errorf("%s: FABRIKA_ADMIN_ADDR %q is not the admin port %d", at, e.Value, admin)
		}
		if !reads[e.Name] {
			t.Errorf("%s: sets %s, which %s never reads", at, e.Name, svc)
		}
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && strings.HasSuffix(ref.SecretKeyRef.Name, "-db-app") && ref.SecretKeyRef.Name != svc+"-db-app" {
			t.Errorf("%s: reads another service's database secret %s", at, ref.SecretKeyRef.Name)
		}
	}
	for _, name := range required {
		if !set[name] {
			t.Errorf("%s: %s is not set", at, name)
		}
	}
	if !set["FABRIKA_IDENTITY_PUBLIC_KEY"] && !set["FABRIKA_IDENTITY_PRIVATE_KEY_FILE"] {
		t.Errorf("%s: no identity key", at)
	}
}

// checkExposure: the Ingress leads to the gateway only, and no Service is
// reachable from outside the cluster.
func checkExposure(t *testing.T, overlay string, r rendered) {
	t.Helper()
	if len(r.ingresses) != 1 {
		t.Fatalf("%s: %d Ingresses, want 1", overlay, len(r.ingresses))
	}
	for _, rule := range r.ingresses[0].Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil || p.Backend.Service.Name != "gateway" || p.Backend.Service.Port.Name != "http" {
				t.Errorf("%s: the Ingress leads to %+v, want only the gateway's http port", overlay, p.Backend)
			}
		}
	}
	for name, s := range r.services {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort || len(s.Spec.ExternalIPs) > 0 {
			t.Errorf("%s: Service %s is exposed outside the cluster", overlay, name)
		}
	}
}

// checkNetwork: default deny both ways, and what each pod may be reached
// by and may reach is exactly the platform's paths.
func checkNetwork(t *testing.T, overlay string, r rendered) {
	t.Helper()
	denyAll := false
	for _, p := range r.policies {
		if len(p.Spec.PodSelector.MatchLabels)+len(p.Spec.PodSelector.MatchExpressions) == 0 && len(p.Spec.Ingress) == 0 &&
			len(p.Spec.Egress) == 0 && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			denyAll = true
		}
	}
	if !denyAll {
		t.Errorf("%s: no default-deny NetworkPolicy", overlay)
	}
	podLabels := func(svc string) labels.Set { return labels.Set(r.deployments[svc].Spec.Template.Labels) }
	selects := func(sel metav1.LabelSelector, l labels.Set) bool {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			t.Fatal(err)
		}
		return s.Matches(l)
	}
	// from: which pods (by service, or "ingress", "prometheus") may open
	// port on svc's pods.
	allowedIn := func(svc string, port int32, from labels.Set, fromNS string) bool {
		for _, p := range r.policies {
			if !selects(p.Spec.PodSelector, podLabels(svc)) {
				continue
			}
			for _, rule := range p.Spec.Ingress {
				if !portMatches(rule.Ports, port) {
					continue
				}
				for _, peer := range rule.From {
					nsOK := peer.NamespaceSelector == nil && fromNS == r.namespace ||
						peer.NamespaceSelector != nil && selects(*peer.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": fromNS})
					podOK := peer.PodSelector == nil || selects(*peer.PodSelector, from)
					if nsOK && podOK && peer.IPBlock == nil {
						return true
					}
				}
			}
		}
		return false
	}
	ingressPod := labels.Set{"app.kubernetes.io/name": "ingress-nginx"}
	prometheusPod := labels.Set{"app.kubernetes.io/name": "prometheus"}
	for _, svc := range services {
		wantFromIngress := svc == "gateway"
		if got := allowedIn(svc, 8080, ingressPod, "ingress-nginx"); got != wantFromIngress {
			t.Errorf("%s: the ingress controller reaching %s's app port: %v, want %v", overlay, svc, got, wantFromIngress)
		}
		wantFromGateway := slices.Contains([]string{"shop", "crm", "mes-operator", "mes-api"}, svc)
		if got := allowedIn(svc, 8080, podLabels("gateway"), r.namespace); got != wantFromGateway {
			t.Errorf("%s: the gateway reaching %s's app port: %v, want %v", overlay, svc, got, wantFromGateway)
		}
		for _, other := range services {
			if other != "gateway" && allowedIn(svc, 8080, podLabels(other), r.namespace) {
				t.Errorf("%s: %s may reach %s's app port", overlay, other, svc)
			}
			if allowedIn(svc, 9090, podLabels(other), r.namespace) {
				t.Errorf("%s: %s may reach %s's admin port", overlay, other, svc)
			}
		}
		if !allowedIn(svc, 9090, prometheusPod, "monitoring") {
			t.Errorf("%s: Prometheus cannot reach %s's admin port", overlay, svc)
		}
		// Egress: NATS and its own database, nobody else's.
		for _, db := range services {
			got := allowedOut(r, podLabels(svc), labels.Set{"cnpg.io/cluster": db + "-db"}, 5432, selects)
			if got != (db == svc) {
				t.Errorf("%s: %s reaching %s's database: %v", overlay, svc, db, got)
			}
		}
		if !allowedOut(r, podLabels(svc), labels.Set{"app.kubernetes.io/name": "nats"}, 4222, selects) {
			t.Errorf("%s: %s cannot reach NATS", overlay, svc)
		}
	}
}

func allowedOut(r rendered, from, to labels.Set, port int32, selects func(metav1.LabelSelector, labels.Set) bool) bool {
	for _, p := range r.policies {
		if !selects(p.Spec.PodSelector, from) {
			continue
		}
		for _, rule := range p.Spec.Egress {
			if !portMatches(rule.Ports, port) {
				continue
			}
			if len(rule.To) == 0 {
				return true
			}
			for _, peer := range rule.To {
				if peer.NamespaceSelector == nil && peer.PodSelector != nil && selects(*peer.PodSelector, to) {
					return true
				}
			}
		}
	}
	return false
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port != nil && p.Port.IntValue() == int(port) {
			return true
		}
	}
	return false
}

// checkSecrets: every Secret a Deployment reads is rendered here or one the
// operator or CloudNativePG provides; the dev overlay's identity pair
// matches.
func checkSecrets(t *testing.T, overlay string, r rendered) {
	t.Helper()
	for svc, d := range r.deployments {
		var names []string
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				names = append(names, v.Secret.SecretName)
			}
		}
		for _, n := range names {
			_, rendered := r.secrets[n]
			if !rendered && !slices.Contains(operatorSecrets, n) && n != svc+"-db-app" {
				t.Errorf("%s: %s reads Secret %s, which nothing provides", overlay, svc, n)
			}
			if overlay == "prod" && rendered {
				t.Errorf("prod: Secret %s is in the repository", n)
			}
		}
	}
	if id, ok := r.secrets["fabrika-identity"]; ok {
		seed, _ := base64.StdEncoding.DecodeString(string(id.Data["private-key"]))
		pub, _ := base64.StdEncoding.DecodeString(string(id.Data["public-key"]))
		if len(seed) != ed25519.SeedSize || !reflect.DeepEqual([]byte(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)), pub) {
			t.Errorf("%s: fabrika-identity's public key is not its private key's", overlay)
		}
	}
}

// settingsRead is, per service, every FABRIKA_* variable its code (the
// service's own packages and platform/) mentions outside tests.
func settingsRead(t *testing.T) map[string]map[string]bool {
	t.Helper()
	name := regexp.MustCompile(`FABRIKA_[A-Z0-9_]+`)
	scan := func(dir string, into map[string]bool) {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			for _, m := range name.FindAllString(string(b), -1) {
				into[m] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	platform := map[string]bool{}
	scan("../platform", platform)
	out := map[string]map[string]bool{}
	for _, svc := range services {
		m := map[string]bool{}
		for k := range platform {
			m[k] = true
		}
		scan("../services/"+svc, m)
		out[svc] = m
	}
	return out
}

// TestPrometheusRule: the PrometheusRule holds exactly the rules of
// prometheus/alerts.yml (-update rewrites it).
func TestPrometheusRule(t *testing.T) {
	alerts, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	const path = "k8s/base/prometheusrule.yaml"
	if *update {
		var b strings.Builder
		b.WriteString("# Generated from deploy/prometheus/alerts.yml (go test ./deploy -run TestPrometheusRule -update);\n" +
			"# the test fails when the two differ.\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: fabrika\nspec:\n")
		for _, line := range strings.Split(strings.TrimRight(string(alerts), "\n"), "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString("  " + line + "\n")
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rule, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	var got struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(alerts, &want); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(rule, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got.Spec) {
		t.Errorf("%s differs from prometheus/alerts.yml: go test ./deploy -run TestPrometheusRule -update", path)
	}
}

// TestNATSValues: the NATS chart's values make a 3-node JetStream cluster
// on file storage, and every service asks for the stream at R3.
func TestNATSValues(t *testing.T) {
	b, err := os.ReadFile("k8s/nats/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
				} `json:"fileStore"`
			} `json:"jetstream"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 || !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled {
		t.Errorf("NATS values: %+v, want a 3-node JetStream cluster on file storage", c)
	}
	r := render(t, "prod")
	for svc, d := range r.deployments {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "FABRIKA_STREAM_REPLICAS" && e.Value != "3" {
				t.Errorf("%s: FABRIKA_STREAM_REPLICAS=%s, want 3", svc, e.Value)
			}
		}
	}
}
