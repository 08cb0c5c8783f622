#pragma once
// The picture of `lowmem validate`: both models' training loss per step, and the gradient cosine between them
// per step. Used by the CLI (headless PNG) and available to the studio.

#include <QWidget>
#include <string>

#include "core/validation.h"

namespace lowmem::ui {

QWidget* makeValidationCharts(const Validation& v, QWidget* parent = nullptr);

// loss-curves.png; InputError naming `path` when it cannot be written.
void saveValidationPng(const Validation& v, const std::string& path);

}  // namespace lowmem::ui
