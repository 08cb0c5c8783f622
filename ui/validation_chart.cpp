#include "ui/validation_chart.h"

#include <QChart>
#include <QChartView>
#include <QLineSeries>
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

QChartView* lossChart(const Validation& v) {
  auto* chart = new QChart;
  chart->setTitle(QString("Training loss, %1 steps: %2 (final-%3-step ratio %4, %5)")
                      .arg(v.steps.size())
                      .arg(QString::fromStdString(v.task))
                      .arg(v.window)
                      .arg(v.lossRatio, 0, 'f', 4)
                      .arg(v.passed ? "PASS" : "FAIL"));
  auto* base = new QLineSeries;
  base->setName("original");
  auto* patched = new QLineSeries;
  patched->setName(QString("patched (%1 sites, %2-bit activations)").arg(v.rewrites.size()).arg(v.bits));
  for (size_t i = 0; i < v.steps.size(); ++i) {
    base->append(static_cast<double>(i + 1), v.steps[i].baselineLoss);
    patched->append(static_cast<double>(i + 1), v.steps[i].patchedLoss);
  }
  chart->addSeries(base);
  chart->addSeries(patched);
  chart->createDefaultAxes();
  stepAxis(chart);
  chart->axes(Qt::Vertical).front()->setTitleText("loss");
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
  layout->addWidget(cosineChart(v), 2);
  return w;
}

void saveValidationPng(const Validation& v, const std::string& path) {
  saveWidgetPng([&] { return makeValidationCharts(v); }, 1200, 900, path);
}

}  // namespace lowmem::ui
