#pragma once
// Qt's own notes (the XDG_RUNTIME_DIR default, runtime directory permissions, font fallbacks) go to lowmem's
// log as debug detail, criticals as errors: stderr carries lowmem's own lines, so an error stays one line.

namespace lowmem::ui {

void routeQtMessagesToLog();

}  // namespace lowmem::ui
