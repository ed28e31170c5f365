/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command image is what `make image` runs: it packs a static manager binary,
// a CA bundle and a non-root user into an OCI image and writes it as an OCI
// archive (a tar of an OCI image layout), without Docker and without a base
// image, so it builds offline. Every timestamp is -created and every file is
// written in a fixed order, so that the same inputs give the same digest.
// It is a module of its own so that go-containerregistry stays out of the
// product's go.mod.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonroot is the user the manager runs as: the same uid and gid as
// distroless's nonroot, so the Deployment's runAsNonRoot holds for both the
// archive and the Dockerfile's image.
const nonroot = 65532

func main() {
	binary := flag.String("binary", "", "static manager binary (CGO_ENABLED=0) to put at /manager")
	caBundle := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to put at /etc/ssl/certs/ca-certificates.crt")
	out := flag.String("out", "", "OCI archive to write")
	ref := flag.String("ref", "", "image reference, written as the archive's ref.name annotation and the version label (its tag)")
	revision := flag.String("revision", "", "source revision for the org.opencontainers.image.revision label")
	created := flag.Int64("created", 0, "creation time in Unix seconds (SOURCE_DATE_EPOCH) for the config and every file")
	flag.Parse()
	if *binary == "" || *out == "" || *ref == "" {
		fmt.Fprintln(os.Stderr, "image: -binary, -out and -ref are required")
		os.Exit(2)
	}
	if err := build(*binary, *caBundle, *out, *ref, *revision, time.Unix(*created, 0).UTC()); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(binary, caBundle, out, ref, revision string, created time.Time) error {
	manager, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("reading the manager binary: %w", err)
	}
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return fmt.Errorf("reading the CA bundle: %w", err)
	}
	rootfs, err := rootFS(manager, ca, created)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	})
	if err != nil {
		return fmt.Errorf("building the layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("appending the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: created}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
		Entrypoint: []string{"/manager"},
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     labels(ref, revision, created),
	}
	cfg.History = nil
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	return writeArchive(img, ref, out)
}

// labels are the OCI annotation keys as image labels, which registries and
// scanners read.
func labels(ref, revision string, created time.Time) map[string]string {
	version := ref[strings.LastIndex(ref, ":")+1:]
	l := map[string]string{
		"org.opencontainers.image.title":    "keypool-operator",
		"org.opencontainers.image.source":   "https://github.com/keypool-dev/keypool-operator",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}
	if revision != "" {
		l["org.opencontainers.image.revision"] = revision
	}
	return l
}

// rootFS is the image's one layer: /manager, the CA bundle, and /etc/passwd
// and /etc/group naming the nonroot user. No shell, no package manager.
func rootFS(manager, ca []byte, mtime time.Time) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n"+
		"nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonroot)
	entries := []struct {
		name string
		mode int64
		data []byte // nil for a directory
		uid  int
	}{
		{"etc/", 0o755, nil, 0},
		{"etc/group", 0o644, []byte(group), 0},
		{"etc/passwd", 0o644, []byte(passwd), 0},
		{"etc/ssl/", 0o755, nil, 0},
		{"etc/ssl/certs/", 0o755, nil, 0},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, ca, 0},
		{"home/", 0o755, nil, 0},
		{"home/nonroot/", 0o700, nil, nonroot},
		{"manager", 0o755, manager, 0},
		{"tmp/", 0o1777, nil, 0},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Uid: e.uid, Gid: e.uid, Format: tar.FormatPAX}
		if e.data == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("writing %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// writeArchive writes img as an OCI image layout into a temporary directory
// and tars it into out, files sorted and stamped with the epoch, so the
// archive's bytes depend on the image alone.
func writeArchive(img v1.Image, ref, out string) error {
	dir, err := os.MkdirTemp("", "keypool-image-")
	if err != nil {
		return fmt.Errorf("creating the layout directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	var files []string
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		files = append(files, path)
		return nil
	}); err != nil {
		return fmt.Errorf("listing the layout: %w", err)
	}
	slices.Sort(files)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("creating the output directory: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("creating the archive: %w", err)
	}
	tw := tar.NewWriter(f)
	for _, path := range files {
		if err := addFile(tw, dir, path); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return fmt.Errorf("closing the archive: %w", err)
	}
	return f.Close()
}

func addFile(tw *tar.Writer, dir, path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading the layout: %w", err)
	}
	name, _ := filepath.Rel(dir, path)
	h := &tar.Header{Name: filepath.ToSlash(name), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if info.IsDir() {
		h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		return tw.WriteHeader(h)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the layout: %w", err)
	}
	h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = tw.Write(data)
	return err
}
