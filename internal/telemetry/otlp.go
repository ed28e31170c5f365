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

// Package telemetry sets up OpenTelemetry export from the standard
// OTEL_EXPORTER_OTLP_* environment variables, and nothing without them.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Providers are the configured tracer and meter providers.
type Providers struct {
	Tracer trace.TracerProvider // nil: no traces exported
	Meter  metric.MeterProvider // nil: no metrics exported
	// Shutdown flushes and stops the exporters.
	Shutdown func(context.Context) error
}

// Configured reports whether the environment asks for OTLP export of
// signal ("TRACES" or "METRICS"): OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_<signal>_ENDPOINT is set, and OTEL_<signal>_EXPORTER
// is not "none".
func Configured(signal string) bool {
	if strings.EqualFold(os.Getenv("OTEL_"+signal+"_EXPORTER"), "none") || os.Getenv("OTEL_SDK_DISABLED") == "true" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// FromEnv builds the providers the environment asks for; nil when it asks
// for none. The exporters read the rest of OTEL_EXPORTER_OTLP_* (headers,
// TLS, timeouts) themselves; OTEL_EXPORTER_OTLP_PROTOCOL=grpc selects gRPC,
// otherwise http/protobuf (the specification's default). The resource comes
// from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func FromEnv(ctx context.Context) (*Providers, error) {
	traces, metrics := Configured("TRACES"), Configured("METRICS")
	if !traces && !metrics {
		return nil, nil
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(resource.Default().Attributes()...))
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	grpc := protocol("TRACES") == "grpc"
	p := &Providers{}
	var shutdowns []func(context.Context) error
	if traces {
		var exp sdktrace.SpanExporter
		if grpc {
			exp, err = otlptracegrpc.New(ctx)
		} else {
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		p.Tracer = tp
		shutdowns = append(shutdowns, tp.Shutdown)
	}
	if metrics {
		var exp sdkmetric.Exporter
		if protocol("METRICS") == "grpc" {
			exp, err = otlpmetricgrpc.New(ctx)
		} else {
			exp, err = otlpmetrichttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("otlp metric exporter: %w", err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
		p.Meter = mp
		shutdowns = append(shutdowns, mp.Shutdown)
	}
	p.Shutdown = func(ctx context.Context) error {
		errs := make([]error, 0, len(shutdowns))
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}
	return p, nil
}

// protocol is the OTLP protocol asked for signal.
func protocol(signal string) string {
	if p := os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"); p != "" {
		return p
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
}
