#include "ui/model_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/format.h"
#include "core/progress_stage.h"
#include "core/suggestion_report.h"
#include "core/trainable.h"
#include "service/model_description.h"
#include "service/plan_run.h"
#include "service/profile_run.h"
#include "service/swap_run.h"
#include "ui/plan_chart.h"
#include "ui/session_view.h"

namespace lowmem::ui {
namespace {

// A choice's names from its one table, as the combo box lists them.
template <typename E>
QStringList namesOf() {
  QStringList list;
  for (const auto& name : choiceNames<E>())
    list << QString::fromStdString(name);
  return list;
}

// A refusal as the form says it: a setting by the label of its field (the CLI names its flag instead).
QString formError(const Error& e) {
  static const std::map<std::string, QString> labels = {
      {"trainable", "Trainable"}, {"loss", "Loss"},       {"optimizer", "Optimizer"},
      {"inputs", "Inputs"},       {"threads", "Threads"}, {"dtype", "Dtype"},
      {"lr", "Learning rate"},    {"seed", "Seed"},       {"only", "Sites"},
      {"bits", "Activation bits"}};
  const auto* setting = dynamic_cast<const SettingError*>(&e);
  if (!setting) return QString::fromStdString(e.what());
  const auto it = labels.find(setting->setting());
  const QString name = it == labels.end() ? QString::fromStdString(setting->setting()) : it->second;
  return name + ": " + QString::fromStdString(setting->problem());
}

// "Baseline peak 876 KiB (backward: ...). Predicted 786 KiB (-10.2%) with the checked sites. Checkpointing
// per block: 770 KiB (-12.1%), recomputing 0.014 s of forward a step."
}  // namespace

ModelPage::ModelPage(const std::string& modelPath, QWidget* parent)
    : QWidget(parent), model_(modelPath), cancelled_(std::make_shared<std::atomic<bool>>(false)) {
  setObjectName("modelPage");
  auto* layout = new QVBoxLayout(this);
  // Loading the description first refuses a file that is not a model before anything else is shown.
  const auto summary = describeModel(modelPath, TrainableSelection::parse("saved"));
  auto* title =
      new QLabel(QString("<b>%1</b><br>%2<br>%3 parameters, %4 swap candidates")
                     .arg(QString::fromStdString(modelPath), QString::fromStdString(summary.forwardSignature))
                     .arg(summary.root().total.params)
                     .arg(summary.sites.size()));
  title->setObjectName("modelTitle");
  layout->addWidget(title);
  auto* form = new QFormLayout;
  trainable_ = new QComboBox;
  trainable_->setObjectName("trainable");
  trainable_->setEditable(true);  // a regex is allowed too
  // The CLI's default first: the flags saved in the model.
  trainable_->addItems({"saved", "lora", "all", "none"});
  form->addRow("Trainable", trainable_);
  loss_ = new QComboBox;
  loss_->setObjectName("loss");
  loss_->addItems(namesOf<LossKind>());
  form->addRow("Loss", loss_);
  optimizer_ = new QComboBox;
  optimizer_->setObjectName("optimizer");
  optimizer_->addItems(namesOf<OptimizerKind>());
  form->addRow("Optimizer", optimizer_);
  inputs_ = new QLineEdit;
  inputs_->setObjectName("inputs");
  inputs_->setPlaceholderText(
      "NAME:DTYPE[d0,...], several separated by spaces (e.g. x:float32[2,3,224,224])");
  // The model's recorded example input, to edit rather than to guess.
  inputs_->setText(QString::fromStdString(summary.inputHint));
  form->addRow("Inputs", inputs_);
  dtype_ = new QComboBox;
  dtype_->setObjectName("dtype");
  dtype_->addItem("as saved");
  for (const auto& name : namesOf<Dtype>()) {
    if (isFloating(choiceFrom<Dtype>(name.toStdString(), "dtype"))) dtype_->addItem(name);
  }
  form->addRow("Dtype", dtype_);
  lr_ = new QDoubleSpinBox;
  lr_->setObjectName("lr");
  lr_->setDecimals(6);
  lr_->setRange(1e-6, 10);
  lr_->setSingleStep(1e-4);
  lr_->setValue(StepSpec{}.lr);
  form->addRow("Learning rate", lr_);
  seed_ = new QSpinBox;
  seed_->setObjectName("seed");
  seed_->setRange(0, std::numeric_limits<int>::max());
  form->addRow("Seed", seed_);
  recordShapes_ = new QCheckBox("record tensor shapes and dtypes (slower tracing)");
  recordShapes_->setObjectName("recordShapes");
  form->addRow("Shapes", recordShapes_);
  bits_ = new QSpinBox;
  bits_->setObjectName("bits");
  bits_->setRange(2, 4);
  bits_->setValue(2);
  bits_->setToolTip(
      "Bits per element of the ReGELU2/ReSiLU2 activation code: 2 is the paper's; 3 or 4 keep "
      "closer gradients for a little more memory");
  form->addRow("Activation bits", bits_);
  threads_ = new QSpinBox;
  threads_->setObjectName("threads");
  threads_->setRange(0, 4096);
  threads_->setSpecialValueText("every core");
  form->addRow("Threads", threads_);
  auto* planRow = new QHBoxLayout;
  planBatches_ = new QLineEdit("16 32");
  planBatches_->setObjectName("planBatches");
  planBatches_->setToolTip("Batch sizes to predict, separated by spaces (traced at 2, 4 and 8 and fitted)");
  planBudget_ = new QLineEdit;
  planBudget_->setObjectName("planBudget");
  planBudget_->setPlaceholderText("budget, e.g. 24GiB (optional)");
  planRow->addWidget(new QLabel("batches"));
  planRow->addWidget(planBatches_);
  planRow->addWidget(new QLabel("per-device memory"));
  planRow->addWidget(planBudget_);
  form->addRow("Plan", planRow);
  specError_ = new QLabel;
  specError_->setObjectName("specError");
  specError_->setStyleSheet("color: #b00020");
  form->addRow("", specError_);
  layout->addLayout(form);

  auto* buttons = new QHBoxLayout;
  profileButton_ = new QPushButton("Profile");
  profileButton_->setObjectName("profileButton");
  suggestButton_ = new QPushButton("Suggest");
  suggestButton_->setObjectName("suggestButton");
  planButton_ = new QPushButton("Plan");
  planButton_->setObjectName("planButton");
  planButton_->setToolTip("Predict the peak at the Plan row's batches, before and after the swaps");
  patchButton_ = new QPushButton("Apply checked sites and compare");
  patchButton_->setObjectName("patchButton");
  cancelButton_ = new QPushButton("Cancel");
  cancelButton_->setObjectName("cancelButton");
  cancelButton_->setToolTip(
      "Stops waiting: the step already running finishes in the background and is discarded");
  cancelButton_->setEnabled(false);
  progress_ = new QProgressBar;
  progress_->setObjectName("progress");
  progress_->setRange(0, 1);
  progress_->setValue(0);
  stage_ = new QLabel;
  stage_->setObjectName("stage");
  buttons->addWidget(profileButton_);
  buttons->addWidget(suggestButton_);
  buttons->addWidget(patchButton_);
  buttons->addWidget(planButton_);
  buttons->addWidget(cancelButton_);
  buttons->addWidget(progress_, 1);
  buttons->addWidget(stage_, 1);
  layout->addLayout(buttons);
  sites_ = new QTableWidget;
  sites_->setObjectName("sites");
  sites_->setColumnCount(7);
  sites_->setHorizontalHeaderLabels(
      {"site", "kind", "module", "status", "predicted saving", "peak if alone", "why"});
  sites_->horizontalHeader()->setStretchLastSection(true);
  sites_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  sites_->setVisible(false);
  sites_->setMaximumHeight(220);
  layout->addWidget(sites_);
  // What the table adds up to, and the alternative: the figures `lowmem suggest` prints under its table.
  suggestionSummary_ = new QLabel;
  suggestionSummary_->setObjectName("suggestionSummary");
  // The CLI's own lines under its table, column-aligned.
  suggestionSummary_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  suggestionSummary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  suggestionSummary_->setVisible(false);
  layout->addWidget(suggestionSummary_);
  resultArea_ = new QVBoxLayout;
  layout->addLayout(resultArea_, 1);

  connect(profileButton_, &QPushButton::clicked, this, &ModelPage::profile);
  connect(suggestButton_, &QPushButton::clicked, this, &ModelPage::suggest);
  connect(patchButton_, &QPushButton::clicked, this, &ModelPage::patchAndCompare);
  connect(planButton_, &QPushButton::clicked, this, &ModelPage::plan);
  connect(cancelButton_, &QPushButton::clicked, this, &ModelPage::cancel);
  for (auto* box : {trainable_, loss_, optimizer_, dtype_})
    connect(box, &QComboBox::currentTextChanged, this, &ModelPage::validate);
  connect(inputs_, &QLineEdit::textChanged, this, &ModelPage::validate);
  validate();
}

StepSpec ModelPage::spec() const {
  StepSpec s;
  s.trainable = TrainableSelection::parse(trainable_->currentText().toStdString());
  s.loss = choiceFrom<LossKind>(loss_->currentText().toStdString(), "loss");
  s.optimizer = choiceFrom<OptimizerKind>(optimizer_->currentText().toStdString(), "optimizer");
  s.threads = threads_->value();
  if (dtype_->currentIndex() > 0) s.dtype = choiceFrom<Dtype>(dtype_->currentText().toStdString(), "dtype");
  s.lr = lr_->value();
  s.seed = seed_->value();
  s.recordShapes = recordShapes_->isChecked();
  for (const auto& text : inputs_->text().split(' ', Qt::SkipEmptyParts))
    s.inputs.push_back(parseInputSpec(text.toStdString(), "inputs"));
  s.validate();
  return s;
}

void ModelPage::validate() {
  try {
    spec();
    specError_->clear();
    for (auto* b : {profileButton_, suggestButton_, patchButton_, planButton_})
      b->setEnabled(!busy_);
  } catch (const Error& e) {
    specError_->setText(formError(e));
    for (auto* b : {profileButton_, suggestButton_, patchButton_, planButton_})
      b->setEnabled(false);
  }
}

void ModelPage::run(const QString& what,
                    std::function<void(const std::function<void(const std::string&)>&)> job) {
  StepSpec checked;
  try {
    checked = spec();
  } catch (const Error& e) {
    Q_EMIT finished(false, formError(e));
    return;
  }
  busy_ = true;
  cancelled_ = std::make_shared<std::atomic<bool>>(false);
  for (auto* b : {profileButton_, suggestButton_, patchButton_, planButton_})
    b->setEnabled(false);
  cancelButton_->setEnabled(true);
  progress_->setRange(0, 0);  // busy: the steps have no known length
  stage_->setText(what);
  auto cancelled = cancelled_;
  QPointer<ModelPage> self(this);
  auto progress = [self, cancelled](const std::string& stage) {
    if (cancelled->load()) return;
    QMetaObject::invokeMethod(
        self,
        [self, stage] {
          if (!self) return;
          self->stage_->setText(QString::fromStdString(stage) + "...");
          // A counted stage ("training step 57 of 200") fills the bar; others leave it busy.
          const auto counted = parseProgressStage(stage);
          if (counted.total > 0) {
            self->progress_->setRange(0, static_cast<int>(counted.total));
            self->progress_->setValue(static_cast<int>(counted.done));
          } else {
            self->progress_->setRange(0, 0);
          }
        },
        Qt::QueuedConnection);
  };
  auto* watcher = new QFutureWatcher<QString>(this);
  connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, cancelled] {
    const QString error = watcher->result();
    watcher->deleteLater();
    busy_ = false;
    cancelButton_->setEnabled(false);
    progress_->setRange(0, 1);
    progress_->setValue(error.isEmpty() ? 1 : 0);
    validate();
    if (cancelled->load()) {
      stage_->setText("cancelled");
      Q_EMIT finished(false, "cancelled");
      return;
    }
    stage_->setText(error.isEmpty() ? "done" : "failed");
    if (error.isEmpty() && plan_) {
      showPlan();
    } else if (error.isEmpty() && !sessionFile_.isEmpty()) {
      showSession(sessionFile_);
    } else if (error.isEmpty()) {
      showSuggestions();
    }
    Q_EMIT finished(error.isEmpty(), error);
  });
  watcher->setFuture(QtConcurrent::run([job, progress]() -> QString {
    try {
      job(progress);
      return {};
    } catch (const std::exception& e) {
      return QString::fromStdString(firstLine(e.what()));
    }
  }));
}

void ModelPage::profile() {
  const StepSpec s = spec();
  const QString file = work_.filePath(QString("profile-%1.db").arg(QDateTime::currentMSecsSinceEpoch()));
  sessionFile_ = file;
  const std::string model = model_;
  run("profiling", [s, file, model](const auto& progress) {
    const auto run = profileModel(model, s, "baseline", progress);
    SessionWriter(file.toStdString()).writeRun(run.info, run.trace, run.profile);
  });
}

void ModelPage::suggest() {
  const StepSpec s = spec();
  const std::string model = model_;
  sessionFile_.clear();
  auto result = std::make_shared<nlohmann::json>();
  suggestions_ = nlohmann::json();
  const int bits = bits_->value();
  run("suggesting", [this, s, model, result, bits](const auto& progress) {
    const auto r = suggestForModel(model, s, SwapSelection(std::vector<std::string>{}, bits), progress);
    *result = suggestionsJson(r.suggestions);
    std::ostringstream summary;
    writeSuggestionSummary(r.suggestions, summary);
    (*result)["summary_text"] = summary.str();
    // Read on the GUI thread only after the worker finished (the watcher's signal).
    QMetaObject::invokeMethod(
        this, [this, result] { suggestions_ = *result; }, Qt::BlockingQueuedConnection);
  });
}

void ModelPage::showSuggestions() {
  const auto sites = suggestions_.value("sites", nlohmann::json::array());
  sites_->setRowCount(static_cast<int>(sites.size()));
  for (int r = 0; r < static_cast<int>(sites.size()); ++r) {
    const auto& site = sites[static_cast<size_t>(r)];
    auto* check = new QTableWidgetItem(QString("#%1").arg(site.value("ordinal", -1)));
    const bool valid = site.value("valid", false) && site.value("status", "") != "invalid";
    check->setFlags(valid ? (Qt::ItemIsUserCheckable | Qt::ItemIsEnabled) : Qt::ItemIsEnabled);
    check->setCheckState(site.value("chosen", false) ? Qt::Checked : Qt::Unchecked);
    sites_->setItem(r, 0, check);
    sites_->setItem(r, 1, new QTableWidgetItem(QString::fromStdString(site.value("kind", ""))));
    sites_->setItem(r, 2, new QTableWidgetItem(QString::fromStdString(site.value("module", ""))));
    sites_->setItem(r, 3, new QTableWidgetItem(QString::fromStdString(site.value("status", ""))));
    sites_->setItem(
        r, 4,
        new QTableWidgetItem(QString::fromStdString(formatBytes(site.value("saving_bytes", int64_t{0})))));
    sites_->setItem(r, 5,
                    new QTableWidgetItem(valid ? QString::fromStdString(formatBytes(
                                                     site.value("predicted_peak_alone", int64_t{0})))
                                               : QString()));
    sites_->setItem(r, 6, new QTableWidgetItem(QString::fromStdString(site.value("why", ""))));
  }
  sites_->resizeColumnsToContents();
  sites_->setVisible(true);
  suggestionSummary_->setText(
      QString::fromStdString(suggestions_.value("summary_text", std::string())).trimmed());
  suggestionSummary_->setVisible(true);
}

std::vector<std::string> ModelPage::checkedSites() const {
  std::vector<std::string> only;
  for (int r = 0; r < sites_->rowCount(); ++r) {
    if (sites_->item(r, 0)->checkState() == Qt::Checked)
      only.push_back(sites_->item(r, 0)->text().toStdString());
  }
  return only;
}

void ModelPage::patchAndCompare() {
  const StepSpec s = spec();
  const auto stamp = QDateTime::currentMSecsSinceEpoch();
  const QString file = work_.filePath(QString("patch-%1.db").arg(stamp));
  const QString patched =
      work_.filePath(QString("%1-patched-%2.pt")
                         .arg(QFileInfo(QString::fromStdString(model_)).completeBaseName())
                         .arg(stamp));
  sessionFile_ = file;
  patchedFile_ = patched;
  const std::string model = model_;
  // Before Suggest: every site the suggestion chooses; after it: the checked ones.
  const auto only = sites_->isVisible() ? checkedSites() : std::vector<std::string>{};
  if (sites_->isVisible() && only.empty()) {
    Q_EMIT finished(false, "no site is checked");
    return;
  }
  const int bits = bits_->value();
  run("patching", [s, file, patched, model, only, bits](const auto& progress) {
    // Five alternating rounds: fewer give no spread worth a "within noise" verdict.
    lowmem::patchAndCompare(model, patched.toStdString(), s, SwapSelection(only, bits), file.toStdString(), 5,
                            SessionWrite::kAppend, progress);
  });
}

void ModelPage::cancel() {
  cancelled_->store(true);
  stage_->setText("cancelling (the running step finishes in the background)...");
}

void ModelPage::showResult(QWidget* widget) {
  if (result_) {
    resultArea_->removeWidget(result_);
    result_->deleteLater();
  }
  view_ = qobject_cast<SessionView*>(widget);
  result_ = widget;
  resultArea_->addWidget(widget);
}

void ModelPage::showSession(const QString& file) {
  showResult(new SessionView(file.toStdString(), this));
}

void ModelPage::plan() {
  PlanRequest request;
  for (const auto& text : planBatches_->text().split(' ', Qt::SkipEmptyParts)) {
    bool ok = false;
    const auto b = text.toLongLong(&ok);
    if (!ok || b < 1) {
      Q_EMIT finished(false, "Plan batches: '" + text + "' is not a batch size");
      return;
    }
    request.batches.push_back(b);
  }
  if (!planBudget_->text().trimmed().isEmpty()) {
    const auto bytes = parseByteSize(planBudget_->text().trimmed().toStdString());
    if (!bytes) {
      Q_EMIT finished(false,
                      "Plan budget: '" + planBudget_->text() + "' is not a size such as 24GiB or 80GB");
      return;
    }
    request.budgetBytes = *bytes;
  }
  request.selection.bits = bits_->value();
  const StepSpec s = spec();
  const std::string model = model_;
  sessionFile_.clear();
  plan_.reset();
  auto result = std::make_shared<Plan>();
  run("planning", [this, s, model, request, result](const auto& progress) {
    *result = planModel(model, s, request, progress);
    QMetaObject::invokeMethod(
        this, [this, result] { plan_ = result; }, Qt::BlockingQueuedConnection);
  });
}

void ModelPage::showPlan() {
  showResult(makePlanPage(*plan_, this));
  plan_.reset();
}

}  // namespace lowmem::ui
