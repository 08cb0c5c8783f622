#pragma once
// A model opened in the studio: the step spec as a form (prefilled from the model's recorded input, checked
// as you type), and the two long jobs on a worker thread with a progress bar: Profile (one traced step) and
// Suggest, patch and compare (the CLI's `patch --session`). Results open as a SessionView over a session file
// in a temporary folder, which "Save session as..." and "Save patched model as..." copy out.

#include <QTemporaryDir>
#include <QWidget>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <vector>

#include "core/plan_report.h"
#include "core/step_spec.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QVBoxLayout;

namespace lowmem::ui {

class SessionView;

class ModelPage : public QWidget {
  Q_OBJECT

 public:
  explicit ModelPage(const std::string& modelPath, QWidget* parent = nullptr);

  // Loads the model's description (forward signature, recorded input, sites); throws lowmem::InputError for a
  // file that is not a loadable TorchScript model.
  // The spec the form describes; InputError naming the field otherwise.
  StepSpec spec() const;
  bool busy() const { return busy_; }
  SessionView* sessionView() const { return view_; }
  QString sessionFile() const { return sessionFile_; }
  QString patchedModelFile() const { return patchedFile_; }
  QString modelFile() const { return QString::fromStdString(model_); }

 public Q_SLOTS:
  void profile();
  // Suggests from a fresh baseline and lists every site with a check box (the chosen ones checked).
  void suggest();
  // Patches the checked sites (all suggested ones when called before suggest), verifies, re-profiles,
  // compares.
  void patchAndCompare();
  // `lowmem plan` on the form's spec at the batches and budget of the Plan row: the chart and the text.
  void plan();
  void cancel();

 Q_SIGNALS:
  void finished(bool ok, const QString& message);

 private:
  void validate();
  void run(const QString& what, std::function<void(const std::function<void(const std::string&)>&)> job);
  void showSession(const QString& file);
  void showSuggestions();
  void showPlan();
  // Replaces what the result area shows.
  void showResult(QWidget* widget);
  std::vector<std::string> checkedSites() const;

  nlohmann::json suggestions_;  // the last suggest run's sites, and "summary_text": its lines under the table

  std::string model_;
  QTemporaryDir work_;
  QComboBox* trainable_ = nullptr;
  QComboBox* loss_ = nullptr;
  QComboBox* optimizer_ = nullptr;
  QLineEdit* inputs_ = nullptr;
  QSpinBox* threads_ = nullptr;
  QComboBox* dtype_ = nullptr;
  QDoubleSpinBox* lr_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QCheckBox* recordShapes_ = nullptr;
  QSpinBox* bits_ = nullptr;
  QLabel* suggestionSummary_ = nullptr;
  QLabel* specError_ = nullptr;
  QPushButton* profileButton_ = nullptr;
  QPushButton* patchButton_ = nullptr;
  QPushButton* cancelButton_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* stage_ = nullptr;
  QVBoxLayout* resultArea_ = nullptr;
  QTableWidget* sites_ = nullptr;
  QPushButton* suggestButton_ = nullptr;
  SessionView* view_ = nullptr;
  QWidget* result_ = nullptr;  // what the result area shows: view_ or a plan
  QLineEdit* planBatches_ = nullptr;
  QLineEdit* planBudget_ = nullptr;
  QPushButton* planButton_ = nullptr;
  std::shared_ptr<Plan> plan_;  // the last plan, set when planning finished
  QString sessionFile_;
  QString patchedFile_;
  bool busy_ = false;
  std::shared_ptr<std::atomic<bool>> cancelled_;
};

}  // namespace lowmem::ui
