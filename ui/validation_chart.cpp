#include "ui/validation_chart.h"

#include <QChart>
#include <QChartView>
#include <QLineSeries>
#include <QPen>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>

#include "ui/headless_png.h"

namespace lowmem::ui {
namespace {

QChartView* view(QChart* chart) {
  auto* v = new QChartView(chart);
  v->setRenderHint(QPainter::Antialiasing);
  return v;
}

// Steps are whole numbers: integer tick labels.
void stepAxis(QChart* chart) {
  auto* x = qobject_cast<QValueAxis*>(chart->axes(Qt::Horizontal).front());
  x->setTitleText("step");
  x->setLabelFormat("%d");
  x->applyNiceNumbers();
}

// A held-out measure at each measured step, averaged over the seeds (every seed measures the same steps),
// added to `chart` as a dashed line with points in `colour` (the training curve's of the same model, where
// there is one; invalid: the theme's next).
void addHeldOutSeries(QChart* chart, const Validation& v, const QString& name, const QColor& colour,
                      double (*get)(const HeldOutPoint&)) {
  auto* series = new QLineSeries;
  series->setName(name);
  const auto& first = v.seeds.front().heldOut;
  for (size_t i = 0; i < first.size(); ++i) {
    double sum = 0;
    for (const auto& run : v.seeds)
      sum += i < run.heldOut.size() ? get(run.heldOut[i]) : get(first[i]);
    series->append(first[i].step, sum / static_cast<double>(v.seeds.size()));
  }
  chart->addSeries(series);
  series->setPen(QPen(colour.isValid() ? colour : series->color(), 2.5, Qt::DashLine));
  series->setPointsVisible(true);
}

// The task's name up to its details (the data set and where it comes from).
QString taskTitle(const Validation& v) {
  return QString::fromStdString(v.task.substr(0, v.task.find(':')));
}

QString verdictTitle(const Validation& v) {
  if (v.seeds.empty())
    return QString("final-%1-step ratio %2, %3")
        .arg(v.window)
        .arg(v.lossRatio, 0, 'f', 4)
        .arg(v.passed ? "PASS" : "FAIL");
  return QString("%1 seeds, %2").arg(v.seeds.size()).arg(outcomeName(v.outcome));
}

QChartView* lossChart(const Validation& v) {
  auto* chart = new QChart;
  chart->setTitle(
      QString("Loss, %1 steps: %2 (%3)").arg(v.steps.size()).arg(taskTitle(v)).arg(verdictTitle(v)));
  auto* base = new QLineSeries;
  const QString which = v.seeds.size() > 1 ? ", training (first seed)" : ", training";
  base->setName("original" + which);
  auto* patched = new QLineSeries;
  patched->setName(
      QString("patched (%1 sites, %2-bit activations)%3").arg(v.rewrites.size()).arg(v.bits).arg(which));
  for (size_t i = 0; i < v.steps.size(); ++i) {
    base->append(static_cast<double>(i + 1), v.steps[i].baselineLoss);
    patched->append(static_cast<double>(i + 1), v.steps[i].patchedLoss);
  }
  chart->addSeries(base);
  chart->addSeries(patched);
  if (!v.seeds.empty()) {
    addHeldOutSeries(chart, v, "original, held out (mean over seeds)", base->color(),
                     [](const HeldOutPoint& p) { return p.baselineLoss; });
    addHeldOutSeries(chart, v, "patched, held out (mean over seeds)", patched->color(),
                     [](const HeldOutPoint& p) { return p.patchedLoss; });
  }
  chart->createDefaultAxes();
  stepAxis(chart);
  chart->axes(Qt::Vertical).front()->setTitleText("loss");
  return view(chart);
}

QChartView* accuracyChart(const Validation& v) {
  auto* chart = new QChart;
  chart->setTitle(QString("Held-out accuracy (mean over %1 seeds): original %2%, patched %3%")
                      .arg(v.seeds.size())
                      .arg(100 * v.heldOutAccuracy.baselineMean, 0, 'f', 2)
                      .arg(100 * v.heldOutAccuracy.patchedMean, 0, 'f', 2));
  // The theme's first two colours, as the loss chart's original and patched curves.
  addHeldOutSeries(chart, v, "original", {}, [](const HeldOutPoint& p) { return 100 * p.baselineAccuracy; });
  addHeldOutSeries(chart, v, "patched", {}, [](const HeldOutPoint& p) { return 100 * p.patchedAccuracy; });
  chart->createDefaultAxes();
  stepAxis(chart);
  auto* y = chart->axes(Qt::Vertical).front();
  y->setTitleText("accuracy (%)");
  y->setRange(0, 100);  // from zero: a share, drawn whole
  return view(chart);
}

QChartView* cosineChart(const Validation& v) {
  auto* chart = new QChart;
  chart->setTitle("Cosine similarity of the trainable gradients, patched vs original");
  auto* cos = new QLineSeries;
  cos->setName("gradient cosine");
  double low = 1;
  for (size_t i = 0; i < v.steps.size(); ++i) {
    cos->append(static_cast<double>(i + 1), v.steps[i].gradientCosine);
    low = std::min(low, v.steps[i].gradientCosine);
  }
  chart->addSeries(cos);
  chart->createDefaultAxes();
  stepAxis(chart);
  auto* y = chart->axes(Qt::Vertical).front();
  y->setTitleText("cosine");
  y->setRange(std::max(-1.0, low - 0.01), 1.0);
  return view(chart);
}

}  // namespace

QWidget* makeValidationCharts(const Validation& v, QWidget* parent) {
  auto* w = new QWidget(parent);
  auto* layout = new QVBoxLayout(w);
  layout->addWidget(lossChart(v), 3);
  if (v.classifies) layout->addWidget(accuracyChart(v), 2);
  layout->addWidget(cosineChart(v), 2);
  return w;
}

void saveValidationPng(const Validation& v, const std::string& path) {
  saveWidgetPng([&] { return makeValidationCharts(v); }, 1200, v.classifies ? 1200 : 900, path);
}

}  // namespace lowmem::ui
