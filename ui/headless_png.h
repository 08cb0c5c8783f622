#pragma once
// Renders a widget to a PNG file without a display: the CLI's charts (demo, validate) go through here.
// Creates an offscreen QApplication when none exists.

#include <QWidget>
#include <functional>
#include <string>

namespace lowmem::ui {

// `make` builds the widget once the application exists; it is rendered at width x height and written
// atomically. Throws lowmem::InputError naming `path` when it cannot be written.
void saveWidgetPng(const std::function<QWidget*()>& make, int width, int height, const std::string& path);

}  // namespace lowmem::ui
