package httpapi

import (
	"database/sql"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus metrics GET /metrics serves. Each server has
// its own registry, so that tests can run several servers.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series remembers the counter and histogram of each label set, so
	// that a request costs no label lookup in the vectors.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// newMetrics returns the metrics of a server whose database handle is db
// (nil for none) and whose service has purged the tokens purged returns.
func newMetrics(db *sql.DB, purged func() int64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_http_requests_total",
			Help: "HTTP requests served, by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokend_http_request_duration_seconds",
			Help:    "Time spent serving HTTP requests, by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	m.registry.MustRegister(m.requests, m.duration,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tokend_tokens_purged_total",
			Help: "Tokens this replica deleted after their retention (TOKEND_TOKEN_RETENTION).",
		}, func() float64 { return float64(purged()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(db, "tokend"))
	}
	return m
}

// observe records one request. Routes are the patterns Echo matched, so
// that ids in paths do not multiply the series; methods outside HTTP's own
// count as OTHER, for the same reason.
func (m *metrics) observe(c echo.Context, took time.Duration) {
	k := seriesKey{method: c.Request().Method, route: c.Path(), status: c.Response().Status}
	if k.route == "" {
		k.route = "unmatched"
	}
	if !slices.Contains(methods, k.method) {
		k.method = "OTHER"
	}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(k.method, k.route, strconv.Itoa(k.status)),
			duration: m.duration.WithLabelValues(k.method, k.route),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.duration.Observe(took.Seconds())
}

// methods are the methods counted by name.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

func (m *metrics) handler() echo.HandlerFunc {
	h := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return echo.WrapHandler(http.Handler(h))
}
