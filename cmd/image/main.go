// Command image builds one service's OCI image without a Docker daemon:
// the service's static binary (time zone data embedded), CA certificates,
// a non-root user, labels with the service's version and commit; the same
// commit gives the same digest. It writes the image to an OCI layout and
// pushes it only when a registry is named.
//
//	go run ./cmd/image -service shop [-out data/images] [-push ghcr.io/fabrika]
//
// The version is the newest tag <service>/vX.Y.Z reachable from the commit
// (git describe), else 0.0.0-<commit>: each service releases on its own.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/fabrika/fabrika/platform/buildinfo"
)

// services this repository builds images of.
var services = []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"}

// uid is the image's user (the distroless "nonroot").
const uid = 65532

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	svc := fs.String("service", "", "the service: "+strings.Join(services, ", "))
	out := fs.String("out", filepath.Join("data", "images"), "OCI layout directory (one image per service, tagged by its version)")
	push := fs.String("push", os.Getenv("FABRIKA_REGISTRY"), "registry repository prefix to push to, e.g. ghcr.io/fabrika (default $FABRIKA_REGISTRY; empty: no push)")
	certs := fs.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to put in the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !slices.Contains(services, *svc) {
		return fmt.Errorf("-service must be one of %s", strings.Join(services, ", "))
	}
	commit, version, err := versionOf(ctx, *svc)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "fabrika-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, *svc)
	if err := buildBinary(ctx, *svc, version, bin); err != nil {
		return err
	}
	img, err := build(*svc, bin, *certs, version, commit)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if err := writeLayout(*out, img, *svc+":"+version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s %s (OCI layout %s)\n", *svc, version, digest, *out)
	if *push == "" {
		return nil
	}
	ref, err := name.ParseReference(strings.TrimRight(*push, "/") + "/" + *svc + ":" + version)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	fmt.Fprintf(stdout, "pushed %s@%s\n", ref, digest)
	return nil
}

// versionOf is the commit and the service's version at HEAD.
func versionOf(ctx context.Context, svc string) (commit, version string, err error) {
	b, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "", "", fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	commit = strings.TrimSpace(string(b))
	b, err = exec.CommandContext(ctx, "git", "describe", "--tags", "--match", svc+"/v*", "HEAD").Output()
	if err != nil { // no release tag yet
		return commit, "0.0.0-" + commit[:12], nil
	}
	return commit, strings.TrimPrefix(strings.TrimSpace(string(b)), svc+"/v"), nil
}

// buildBinary builds the service statically and reproducibly: no cgo, no
// paths of this machine, no build id; time zone data embedded; the version
// stamped (the service reports it on /healthz).
func buildBinary(ctx context.Context, svc, version, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "timetzdata", "-ldflags", "-s -w -buildid= "+buildinfo.LDFlag(version),
		"-o", out, "./services/"+svc+"/cmd/"+svc)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", svc, err, b)
	}
	return nil
}

// file is one entry of a layer.
type file struct {
	name string
	mode int64
	body []byte // nil for a directory
	uid  int
}

// build assembles the image: one layer with the base files (CA bundle,
// passwd, group, /tmp), one with the binary; zero times everywhere.
func build(svc, bin, certs, version, commit string) (v1.Image, error) {
	ca, err := os.ReadFile(certs)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	base, err := layer([]file{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid))},
		{name: "etc/passwd", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid))},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: ca},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: uid},
		{name: "tmp/", mode: 0o1777},
	})
	if err != nil {
		return nil, err
	}
	app, err := layer([]file{{name: svc, mode: 0o755, body: exe}})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, app)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{"/" + svc},
		User:       fmt.Sprintf("%d:%d", uid, uid),
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "fabrika-" + svc,
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.revision": commit,
			"org.opencontainers.image.source":   "https://github.com/fabrika/fabrika",
			"org.opencontainers.image.licenses": "Apache-2.0",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// layer is a gzip'd tar of files with fixed owners and times, in the
// given order, so that the same files give the same digest.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if f.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// writeLayout adds the image to the OCI layout at dir (created when
// missing), annotated with its tag; an image of the same tag is replaced.
func writeLayout(dir string, img v1.Image, tag string) error {
	p, err := layout.FromPath(dir)
	if errors.Is(err, os.ErrNotExist) || err != nil && !fileExists(filepath.Join(dir, "index.json")) {
		p, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return p.ReplaceImage(img, match(tag), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}

func match(tag string) func(v1.Descriptor) bool {
	return func(d v1.Descriptor) bool { return d.Annotations["org.opencontainers.image.ref.name"] == tag }
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
