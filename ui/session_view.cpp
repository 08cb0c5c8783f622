#include "ui/session_view.h"

#include <QAreaSeries>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QCursor>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QScatterSeries>
#include <QSignalBlocker>
#include <QStyledItemDelegate>
#include <QSvgGenerator>
#include <QTabWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QToolTip>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QValueAxis>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <map>
#include <sstream>

#include "core/comparison.h"
#include "core/error.h"
#include "core/format.h"
#include "core/module_path.h"
#include "core/profile_report.h"
#include "core/timeline_series.h"
#include "ui/activations_model.h"
#include "ui/comparison_chart.h"
#include "ui/pannable_chart_view.h"

namespace lowmem::ui {
namespace {

constexpr double kMiB = 1048576.0;
constexpr size_t kMaxPoints = 2000;

class BytesTreeItem : public QTreeWidgetItem {
 public:
  using QTreeWidgetItem::QTreeWidgetItem;
  bool operator<(const QTreeWidgetItem& other) const override {
    const int c = treeWidget() ? treeWidget()->sortColumn() : 0;
    if (c == 0) return text(0) < other.text(0);
    return data(c, Qt::UserRole).toLongLong() < other.data(c, Qt::UserRole).toLongLong();
  }
};

// The timeline's y axis ends this far above the peak; the selected storage's bar sits between the two.
constexpr double kHeadroom = 1.08;
constexpr double kLifetimeLevel = 1.04;

// One colour per category, none repeated and none the peak's (black) or the selection's (purple).
QColor categoryColor(Category c) {
  static const QColor colors[kCategoryCount] = {
      QColor(78, 121, 167), QColor(89, 161, 79),   QColor(156, 117, 95), QColor(242, 142, 43),
      QColor(225, 87, 89),  QColor(118, 183, 178), QColor(237, 201, 72), QColor(186, 176, 172)};
  return colors[static_cast<size_t>(c) % kCategoryCount];
}

QString q(const std::string& s) {
  return QString::fromStdString(s);
}

// Byte columns draw a bar behind the text, its length the share of the root's total (heaptrack's cost bars).
class ShareBarDelegate : public QStyledItemDelegate {
 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
    const double share = index.data(Qt::UserRole + 1).toDouble();
    if (share > 0) {
      QRect bar = option.rect.adjusted(1, 2, -1, -2);
      bar.setWidth(static_cast<int>(bar.width() * std::min(1.0, share)));
      painter->fillRect(bar, QColor(90, 140, 220, 90));
    }
    QStyledItemDelegate::paint(painter, option, index);
  }
};

// Runs on the worker: reads and re-analyses the run, and indexes what hovering shows.
LoadedRun loadRun(std::shared_ptr<SharedReader> shared, const std::string& label) {
  LoadedRun out;
  try {
    std::unique_lock<std::mutex> lock(shared->mutex);
    auto run = std::make_shared<SessionRun>(shared->reader.load(label));
    lock.unlock();
    out.points = decimatedIndices(run->profile, kMaxPoints);
    std::vector<int64_t> seqs;
    for (size_t i : out.points)
      seqs.push_back(run->profile.timeline[i].seq);
    out.largest = largestAliveAt(run->profile, seqs, 5);
    out.activations = ActivationsModel::activationsBySize(*run);
    out.run = std::move(run);
  } catch (const std::exception& e) {
    out.error = firstLine(e.what());
  }
  return out;
}

LoadedComparison loadComparison(std::shared_ptr<SharedReader> shared) {
  LoadedComparison out;
  try {
    std::unique_lock<std::mutex> lock(shared->mutex);
    const SessionReader& reader = shared->reader;
    const auto stored = reader.comparisons();
    if (stored.empty()) return out;
    const auto& c = stored.back();
    out.baseline = reader.load(c.baselineLabel);
    out.patched = reader.load(c.patchedLabel);
    lock.unlock();
    std::ostringstream text;
    writeComparison(comparisonJson(out.baseline, out.patched, c.record), ReportFormat::kText, text);
    out.text = text.str();
    out.present = true;
  } catch (const std::exception& e) {
    out.error = firstLine(e.what());
  }
  return out;
}

}  // namespace

SessionView::SessionView(const std::string& path, QWidget* parent)
    : QWidget(parent), path_(path), reader_(std::make_shared<SharedReader>(path)) {
  setObjectName("sessionView");
  // Opening checked the file (schema, version, pages) here, so a bad file is refused before any view exists.
  for (const auto& r : reader_->reader.runs())
    labels_.push_back(r.label);
  if (labels_.empty()) throw InputError(path, "session has no runs");
  auto* layout = new QVBoxLayout(this);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel("Run:"));
  runBox_ = new QComboBox;
  runBox_->setObjectName("runBox");
  for (const auto& l : labels_)
    runBox_->addItem(q(l));
  top->addWidget(runBox_);
  progress_ = new QProgressBar;
  progress_->setObjectName("sessionProgress");
  progress_->setRange(0, 0);  // busy: reading has no known length
  progress_->setMaximumWidth(200);
  stage_ = new QLabel;
  stage_->setObjectName("sessionStage");
  top->addWidget(progress_);
  top->addWidget(stage_);
  top->addStretch();
  layout->addLayout(top);
  tabs_ = new QTabWidget;
  tabs_->setObjectName("sessionTabs");
  layout->addWidget(tabs_);

  summary_ = new QTextBrowser;
  summary_->setObjectName("summary");
  // Reports are column-aligned text: a fixed-pitch font, no wrapping.
  summary_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  summary_->setLineWrapMode(QTextEdit::NoWrap);
  tabs_->addTab(summary_, "Summary");
  timeline_ = new PannableChartView;
  timeline_->setObjectName("timeline");
  timeline_->setToolTip(
      "Drag to zoom, right-click to zoom out; wheel zooms; Shift+drag, middle-drag or the arrow "
      "keys pan; 0 resets");
  timeline_->setRenderHint(QPainter::Antialiasing);
  tabs_->addTab(timeline_, "Timeline");
  modules_ = new QTreeWidget;
  modules_->setObjectName("modules");
  modules_->setHeaderLabels({"module", "activations (inclusive)", "exclusive"});
  modules_->setSortingEnabled(true);
  modules_->setItemDelegateForColumn(1, new ShareBarDelegate(modules_));
  modules_->setItemDelegateForColumn(2, new ShareBarDelegate(modules_));
  tabs_->addTab(modules_, "Modules");
  auto* acts = new QWidget;
  auto* actsLayout = new QVBoxLayout(acts);
  filter_ = new QLineEdit;
  filter_->setObjectName("activationFilter");
  filter_->setPlaceholderText("filter by op, module, holder or reason");
  actsLayout->addWidget(filter_);
  activationsModel_ = new ActivationsModel(this);
  activationsFilter_ = new ActivationsFilter(this);
  activationsFilter_->setSourceModel(activationsModel_);
  activations_ = new QTableView;
  activations_->setObjectName("activations");
  activations_->setModel(activationsFilter_);
  activations_->setSortingEnabled(true);
  activations_->setSelectionBehavior(QAbstractItemView::SelectRows);
  activations_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  activations_->horizontalHeader()->setStretchLastSection(true);
  actsLayout->addWidget(activations_);
  tabs_->addTab(acts, "Activations");

  runWatcher_ = new QFutureWatcher<LoadedRun>(this);
  comparisonWatcher_ = new QFutureWatcher<LoadedComparison>(this);
  connect(runWatcher_, &QFutureWatcher<LoadedRun>::finished, this, &SessionView::runLoaded);
  connect(comparisonWatcher_, &QFutureWatcher<LoadedComparison>::finished, this,
          &SessionView::comparisonLoaded);
  connect(runBox_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &SessionView::showRun);
  connect(filter_, &QLineEdit::textChanged, activationsFilter_, &ActivationsFilter::setText);
  connect(activations_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& current, const QModelIndex&) { markLifetime(current); });
  pendingComparison_ = true;
  comparisonWatcher_->setFuture(QtConcurrent::run(loadComparison, reader_));
  showRun(0);
}

SessionView::~SessionView() {
  // A worker still reading shares the reader (kept alive by its own pointer) and nothing else of the view.
  runWatcher_->waitForFinished();
  comparisonWatcher_->waitForFinished();
}

bool SessionView::loading() const {
  return pendingRun_ || pendingComparison_;
}

void SessionView::setBusy(const QString& what) {
  progress_->setVisible(!what.isEmpty());
  stage_->setText(what);
}

void SessionView::showRun(int index) {
  if (index < 0 || index >= static_cast<int>(labels_.size())) return;
  if (runBox_->currentIndex() != index) {
    runBox_->setCurrentIndex(index);  // its signal comes back here
    return;
  }
  requested_ = index;
  pendingRun_ = true;
  setBusy(q("reading run '" + labels_[static_cast<size_t>(index)] + "'"));
  // A newer request replaces the watched future; the older one finishes unobserved.
  runWatcher_->setFuture(QtConcurrent::run(loadRun, reader_, labels_[static_cast<size_t>(index)]));
}

void SessionView::runLoaded() {
  auto loaded = runWatcher_->result();
  pendingRun_ = false;
  setBusy(pendingComparison_ ? QString("reading the comparison") : QString());
  if (!loaded.error.empty()) {
    summary_->setPlainText(q(loaded.error));
    tabs_->setCurrentWidget(summary_);
    Q_EMIT runShown(requested_);
    return;
  }
  loaded_ = std::move(loaded);
  fillSummary();
  fillTimeline();
  fillModules();
  fillActivations();
  Q_EMIT runShown(requested_);
}

void SessionView::fillSummary() {
  std::ostringstream text;
  writeRunReport(*loaded_.run, ReportFormat::kText, text);
  summary_->setPlainText(q(text.str()));
}

void SessionView::fillTimeline() {
  const auto& tl = loaded_.run->profile.timeline;
  auto* chart = new QChart;
  chart->setTitle(q("Memory of run '" + loaded_.run->info.label + "' by category (peak " +
                    formatBytes(loaded_.run->profile.peak().total) + ")"));
  // Each bucket's maximum, so the peak is always drawn.
  const auto& points = loaded_.points;
  const int64_t t0 = tl.empty() ? 0 : tl.front().timeNs;
  QLineSeries* lower = nullptr;
  std::vector<int64_t> below(points.size(), 0);
  for (int c = 0; c < kCategoryCount; ++c) {
    bool any = false;
    for (size_t i : points)
      any = any || tl[i].byCategory[static_cast<size_t>(c)] != 0;
    if (!any) continue;
    auto* upper = new QLineSeries;
    for (size_t k = 0; k < points.size(); ++k) {
      below[k] += tl[points[k]].byCategory[static_cast<size_t>(c)];
      upper->append(static_cast<double>(tl[points[k]].timeNs - t0) / 1e6,
                    static_cast<double>(below[k]) / kMiB);
    }
    auto* area = new QAreaSeries(upper, lower);
    area->setName(categoryName(static_cast<Category>(c)));
    area->setColor(categoryColor(static_cast<Category>(c)));
    area->setBorderColor(categoryColor(static_cast<Category>(c)).darker(130));
    chart->addSeries(area);
    lower = upper;
  }
  auto* peak = new QScatterSeries;
  peak->setName("peak");
  peak->setColor(Qt::black);
  peak->setBorderColor(Qt::black);
  const auto& p = loaded_.run->profile.peak();
  peak->append(static_cast<double>(p.timeNs - t0) / 1e6, static_cast<double>(p.total) / kMiB);
  chart->addSeries(peak);
  lifetime_ = new QLineSeries;
  lifetime_->setName("selected storage");
  QPen selected(QColor(176, 122, 161));  // a colour no category uses
  selected.setWidth(4);
  lifetime_->setPen(selected);
  chart->addSeries(lifetime_);
  // Phase boundaries as vertical lines from zero to the peak, named in the legend.
  const double top = static_cast<double>(p.total) / kMiB;
  for (const auto& mark : loaded_.run->trace.phases) {
    if (mark.phase == Phase::kBefore || tl.empty()) continue;
    auto* line = new QLineSeries;
    line->setName(QString("%1 starts").arg(phaseName(mark.phase)));
    const double x = static_cast<double>(std::max<int64_t>(0, mark.timeNs - t0)) / 1e6;
    line->append(x, 0);
    line->append(x, top);
    QPen pen(Qt::DashLine);
    pen.setColor(QColor(80, 80, 80));
    line->setPen(pen);
    chart->addSeries(line);
  }
  // Hovering an area shows the time, the total there and the largest storages alive.
  for (auto* series : chart->series()) {
    auto* area = qobject_cast<QAreaSeries*>(series);
    if (!area) continue;
    connect(area, &QAreaSeries::hovered, this, [this, t0](const QPointF& point, bool state) {
      if (!state) return;
      QToolTip::showText(QCursor::pos(), hoverText(point.x() * 1e6 + static_cast<double>(t0)));
    });
  }
  chart->createDefaultAxes();
  chart->axes(Qt::Horizontal).front()->setTitleText("time in the step (ms)");
  chart->axes(Qt::Vertical).front()->setTitleText("MiB");
  // From zero, with room above the peak for the selected storage's lifetime bar (drawn inside the plot).
  chart->axes(Qt::Vertical).front()->setRange(0, top * kHeadroom);
  // Clicking a legend entry hides that category (or line) and greys the entry; clicking again shows it.
  for (auto* marker : chart->legend()->markers()) {
    connect(marker, &QLegendMarker::clicked, this, [marker] {
      auto* series = marker->series();
      series->setVisible(!series->isVisible());
      marker->setVisible(true);  // hiding a series hides its marker too; keep it to click again
      marker->setLabelBrush(series->isVisible() ? QBrush(Qt::black) : QBrush(Qt::gray));
    });
  }
  auto* old = timeline_->chart();
  timeline_->setChart(chart);
  delete old;
}

QString SessionView::hoverTextAt(double msFromStart) const {
  if (!loaded_.run || loaded_.run->profile.timeline.empty()) return {};
  return hoverText(msFromStart * 1e6 + static_cast<double>(loaded_.run->profile.timeline.front().timeNs));
}

QString SessionView::hoverText(double timeNs) const {
  if (!loaded_.run || loaded_.points.empty()) return {};
  const auto& p = loaded_.run->profile;
  const auto& tl = p.timeline;
  // The drawn point at or after the time (the chart shows no other), and its largest storages, indexed when
  // the run was read.
  auto it =
      std::lower_bound(loaded_.points.begin(), loaded_.points.end(), timeNs,
                       [&](size_t point, double v) { return static_cast<double>(tl[point].timeNs) < v; });
  if (it == loaded_.points.end()) --it;
  const auto& point = tl[*it];
  QString text = QString("%1 ms: %2 allocated")
                     .arg(static_cast<double>(point.timeNs - tl.front().timeNs) / 1e6, 0, 'f', 3)
                     .arg(q(formatBytes(point.total)));
  for (size_t i : loaded_.largest[static_cast<size_t>(it - loaded_.points.begin())]) {
    const auto& st = p.storages[i];
    const auto& t = loaded_.run->trace;
    text += QString("\n  %1  %2  %3")
                .arg(q(formatBytes(st.bytes)), q(categoryName(st.category)),
                     q(st.allocOp >= 0 ? t.opName(st.allocOp) + " " + t.str(st.module) : p.reasonOf(st)));
  }
  return text;
}

void SessionView::fillModules() {
  modules_->clear();
  std::map<std::string, QTreeWidgetItem*> items;
  const auto rootIt = loaded_.run->profile.moduleActivations.find("");
  const double whole = rootIt == loaded_.run->profile.moduleActivations.end() || rootIt->second.inclusive == 0
                           ? 1.0
                           : static_cast<double>(rootIt->second.inclusive);
  for (const auto& [path, a] : loaded_.run->profile.moduleActivations) {
    QTreeWidgetItem* parent = nullptr;
    const auto [up, leaf] = splitLastComponent(path);
    if (!path.empty()) {
      auto it = items.find(up);
      parent = it == items.end() ? nullptr : it->second;
    }
    auto* item = parent ? new BytesTreeItem(parent) : new BytesTreeItem(modules_);
    item->setText(0, q(path.empty() ? "(root)" : leaf));
    item->setToolTip(0, q(path));
    item->setText(1, q(formatBytes(a.inclusive)));
    item->setData(1, Qt::UserRole, static_cast<qlonglong>(a.inclusive));
    item->setText(2, q(formatBytes(a.exclusive)));
    item->setData(2, Qt::UserRole, static_cast<qlonglong>(a.exclusive));
    item->setData(1, Qt::UserRole + 1, static_cast<double>(a.inclusive) / whole);
    item->setData(2, Qt::UserRole + 1, static_cast<double>(a.exclusive) / whole);
    items[path] = item;
  }
  modules_->expandAll();
  modules_->sortByColumn(1, Qt::DescendingOrder);
  modules_->resizeColumnToContents(0);
  modules_->setColumnWidth(1, 260);
  modules_->setColumnWidth(2, 260);
}

void SessionView::fillActivations() {
  // Rows come largest first; the header shows that order without the proxy sorting them again (the user's
  // clicks sort through it).
  activationsFilter_->sort(-1);
  activationsModel_->setRun(loaded_.run, loaded_.activations);
  const QSignalBlocker quiet(activations_->horizontalHeader());
  activations_->horizontalHeader()->setSortIndicator(ActivationsModel::kBytes, Qt::DescendingOrder);
  // Every column but the reason as wide as its text; the reason takes the rest.
  for (int c = 0; c < ActivationsModel::kReason; ++c)
    activations_->resizeColumnToContents(c);
}

void SessionView::markLifetime(const QModelIndex& current) {
  if (!lifetime_) return;
  lifetime_->clear();
  if (!current.isValid() || !loaded_.run) return;
  const auto row = activationsFilter_->mapToSource(current).row();
  const auto& s = loaded_.run->profile.storages[activationsModel_->storageAt(row)];
  const auto& tl = loaded_.run->profile.timeline;
  if (tl.empty()) return;
  const int64_t t0 = tl.front().timeNs;
  auto timeAt = [&](int64_t seq) {
    auto it = std::lower_bound(tl.begin(), tl.end(), seq,
                               [](const TimelinePoint& p, int64_t v) { return p.seq < v; });
    return static_cast<double>((it == tl.end() ? tl.back() : *it).timeNs - t0) / 1e6;
  };
  const double y = static_cast<double>(loaded_.run->profile.peak().total) / kMiB * kLifetimeLevel;
  lifetime_->append(timeAt(s.allocSeq), y);
  lifetime_->append(s.freeSeq < 0 ? timeAt(tl.back().seq) : timeAt(s.freeSeq), y);
}

void SessionView::comparisonLoaded() {
  const auto c = comparisonWatcher_->result();
  pendingComparison_ = false;
  if (!pendingRun_) setBusy({});
  if (!c.present) {
    if (!c.error.empty()) stage_->setText(q("comparison not shown: " + c.error));
    return;
  }
  addComparisonTab("Compare", "comparePage", q(c.text), c.baseline, c.patched);
}

QWidget* SessionView::addComparisonTab(const QString& title, const QString& name, const QString& text,
                                       const SessionRun& baseline, const SessionRun& patched) {
  auto* page = new QWidget;
  page->setObjectName(name);
  auto* layout = new QHBoxLayout(page);
  auto* textView = new QTextBrowser;
  textView->setObjectName(name == "comparePage" ? "compareText" : name + "Text");
  textView->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  textView->setLineWrapMode(QTextEdit::NoWrap);
  textView->setPlainText(text);
  layout->addWidget(textView, 2);
  auto* right = new QVBoxLayout;
  auto* charts = makeComparisonCharts(baseline, patched);
  if (name == "comparePage") charts_ = charts;
  right->addWidget(charts, 1);
  auto* exportButton = new QPushButton("Export chart as PNG or SVG...");
  exportButton->setObjectName("exportChart");
  connect(exportButton, &QPushButton::clicked, this, [this, charts] {
    const QString file = QFileDialog::getSaveFileName(this, "Export chart", "peak-before-after.png",
                                                      "PNG (*.png);;SVG (*.svg)");
    if (!file.isEmpty() && !exportChart(charts, file))
      QMessageBox::warning(this, "lowmem-studio", file + ": cannot write the image");
  });
  right->addWidget(exportButton, 0, Qt::AlignRight);
  layout->addLayout(right, 3);
  tabs_->addTab(page, title);
  return page;
}

QString SessionView::compareWith(const QString& otherSession) {
  if (!loaded_.run) return "no run is shown yet";
  try {
    // The shown run against the other session's first run: two profiles no patch joined, so no prediction.
    const auto other = SessionReader(otherSession.toStdString()).load("");
    const auto j = comparisonJson(*loaded_.run, other, nlohmann::json::object());
    std::ostringstream text;
    writeComparison(j, ReportFormat::kText, text);
    auto* page = addComparisonTab("Diff: " + QFileInfo(otherSession).fileName(), "diffPage", q(text.str()),
                                  *loaded_.run, other);
    tabs_->setCurrentWidget(page);
  } catch (const std::exception& e) {
    return otherSession + ": " + QString::fromStdString(firstLine(e.what()));
  }
  return {};
}

bool SessionView::exportComparisonChart(const QString& file) const {
  return charts_ && exportChart(charts_, file);
}

bool SessionView::exportChart(QWidget* charts, const QString& file) {
  if (!file.endsWith(".svg", Qt::CaseInsensitive)) return charts->grab().save(file, "PNG");
  // Vector output: the charts paint themselves into the SVG generator.
  QSvgGenerator svg;
  svg.setFileName(file);
  svg.setSize(charts->size());
  svg.setViewBox(QRect(QPoint(0, 0), charts->size()));
  svg.setTitle("lowmem: peak before and after");
  QPainter painter;
  if (!painter.begin(&svg)) return false;
  charts->render(&painter);
  return painter.end();
}

}  // namespace lowmem::ui
