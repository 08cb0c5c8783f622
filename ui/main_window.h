#pragma once
// lowmem-studio's top-level window: opens a model (.pt: a ModelPage to profile and patch it) or a session
// (.db: a SessionView) from the File menu, the recent-files list, the command line or drag and drop, and
// saves what a model page produced. Qt only: LibTorch never enters ui/ (its `slots` macro clashes with Qt's).

#include <QMainWindow>
#include <QStringList>
#include <vector>

#include "core/output_guard.h"

class QMenu;

namespace lowmem::ui {

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);

  // Opens a .pt model or a .db session; shows a dialog and returns false when it cannot.
  bool openFile(const QString& path);
  // Without dialogs, for tests and the command line: the error, or "" when it opened.
  QString tryOpen(const QString& path);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void createMenus();
  void showAbout();
  void openDialog();
  void compareWithDialog();
  void saveSessionAs();
  void savePatchedModelAs();
  void rememberRecent(const QString& path);
  void fillRecentMenu();

  QMenu* recentMenu_ = nullptr;
};

// "Save ... as": `source` copied to `target` atomically (the old target stays until the copy is complete),
// refused when the target is the source or one of `inputs` (through links). The error line, or empty.
QString saveCopyAs(const QString& source, const QString& target, std::vector<NamedPath> inputs);

}  // namespace lowmem::ui
