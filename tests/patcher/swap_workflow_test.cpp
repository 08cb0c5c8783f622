// The patcher end to end on the bundled models: which sites are swappable and why, predicted against measured
// peaks, verification (including a deliberately broken fold), re-patch refusal and the session comparison.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "core/comparison.h"
#include "core/error.h"
#include "core/profile_report.h"
#include "models/presets.h"
#include "patcher/module_paths.h"
#include "patcher/rewriter.h"
#include "patcher/site_plans.h"
#include "patcher/verifier.h"
#include "profiler/executor_mode.h"
#include "profiler/model_loader.h"
#include "service/module_runs.h"
#include "service/swap_run.h"
#include "tests/support/bundled_model_dir.h"

namespace lowmem {
namespace {

namespace fs = std::filesystem;

class SwapWorkflow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = std::make_unique<testing::BundledModelDir>("lowmem-patcher-test"); }
  static void TearDownTestSuite() { dir_.reset(); }
  static std::string path(const std::string& name) { return dir_->path(name); }
  static std::string built(const std::string& preset) { return dir_->built(preset); }
  static StepSpec lora() {
    StepSpec s;
    s.trainable = TrainableSelection::parse("lora");
    return s;
  }
  static const SiteSuggestion& site(const Suggestions& s, const std::string& module, SiteKind kind) {
    for (const auto& x : s.sites) {
      if (x.plan.site.modulePath == module && x.plan.site.kind == kind) return x;
    }
    throw std::runtime_error("no site " + module);
  }
  static std::unique_ptr<testing::BundledModelDir> dir_;
};

std::unique_ptr<testing::BundledModelDir> SwapWorkflow::dir_;

TEST_F(SwapWorkflow, VitTinyClassifiesEverySiteAndMeetsItsPrediction) {
  const auto model = built("vit-tiny");
  const auto patched = path("vit-tiny-patched.pt");
  const auto out = patchModelFile(model, patched, lora(), {});
  const auto& s = out.suggested.suggestions;
  ASSERT_EQ(s.sites.size(), 9u);  // 2 blocks x (norm1, attention, norm2, gelu) + final norm
  for (int layer = 0; layer < 2; ++layer) {
    const std::string block = "encoder.layer_" + std::to_string(layer);
    // The chain keeps copies of q, k and v (matmul makes them contiguous), the probabilities [B, H, T, T] and
    // the output's head-merge copy; lowmem::attention keeps q, k, v, its output (which the merge now views)
    // and an fp32 log-sum-exp a row: the saving is the probabilities less the log-sum-exp.
    const auto& attention = site(s, block + ".attn", SiteKind::kAttention);
    EXPECT_EQ(attention.status, SiteStatus::kSwap) << attention.why;
    const auto v = models::vitTiny();
    const int64_t rows = 2 * v.heads * v.tokens();
    EXPECT_EQ(attention.savingBytes, rows * v.tokens() * 4 - rows * 4);
    const auto& gelu = site(s, block + ".mlp", SiteKind::kGelu);
    EXPECT_EQ(gelu.status, SiteStatus::kSwap);
    // GELU keeps fc1's output [B, T, M] fp32; ReGELU2 keeps ceil(N/4) bytes.
    const auto c = models::vitTiny();
    const int64_t n = 2 * c.tokens() * c.mlpDim;
    EXPECT_EQ(gelu.savingBytes, n * 4 - (n + 3) / 4);
    const auto& norm2 = site(s, block + ".norm2", SiteKind::kLayerNorm);
    EXPECT_EQ(norm2.status, SiteStatus::kSwap);
    EXPECT_TRUE(norm2.plan.sharing) << norm2.why;
    // Four consumers take the fold: fc1's base weight and its LoRA A... (fc1 only here).
    EXPECT_EQ(norm2.plan.folds.size(), 2u);
  }
  // The first norm's input comes from frozen embeddings: nothing is saved for it, so nothing to gain.
  EXPECT_EQ(site(s, "encoder.layer_0.norm1", SiteKind::kLayerNorm).status, SiteStatus::kNoSaving);
  EXPECT_TRUE(site(s, "encoder.layer_1.norm1", SiteKind::kLayerNorm).plan.sharing);
  // The final norm feeds the frozen head through a select: valid, but no consumer saves its output.
  const auto& final = site(s, "norm", SiteKind::kLayerNorm);
  EXPECT_TRUE(final.plan.valid);
  EXPECT_FALSE(final.plan.sharing);
  EXPECT_NE(final.why.find("no consumer saves its output"), std::string::npos) << final.why;

  EXPECT_TRUE(out.verification.forwardOk);
  EXPECT_LE(out.verification.maxAbsDiff, out.verification.tolerance);
  ASSERT_TRUE(fs::exists(patched));
  // Measured against predicted: the patched model profiled under the same spec.
  const auto measured = measurePatched(model, patched, lora(), 1);
  const int64_t before = out.suggested.baseline.profile.peak().total;
  const int64_t predictedCut = before - s.predictedPeak;
  const int64_t measuredCut = before - measured.patched.profile.peak().total;
  ASSERT_GT(predictedCut, 0);
  EXPECT_NEAR(static_cast<double>(measuredCut), static_cast<double>(predictedCut), 0.05 * predictedCut);
  // The comparison stored in a session reads back with per-site measured savings.
  const auto record = comparisonRecord(out, measured.timing);
  saveComparisonSession(path("vit.db"), out.suggested.baseline, measured.patched, record);
  SessionReader reader(path("vit.db"));
  const auto stored = reader.comparisons();
  ASSERT_EQ(stored.size(), 1u);
  const auto c = comparisonJson(reader.load("baseline"), reader.load("patched"), stored[0].record);
  EXPECT_EQ(c["peak_after"].get<int64_t>(), measured.patched.profile.peak().total);
  for (const auto& site : c["sites"]) {
    if (site["kind"] == "gelu" || site["kind"] == "attention") {
      EXPECT_EQ(site["measured_saving"], site["predicted_saving"]) << site.dump();
    }
  }
}

// Mixed precision as fine-tuning runs it: under bf16 autocast fc1 computes in bf16, so GELU keeps 2 bytes an
// element where float32 kept 4, and ReGELU2 keeps the same 2-bit code. Suggest, verify and the patched
// profile all run under the autocast, and the session records it.
TEST_F(SwapWorkflow, VitTinyUnderBf16AutocastSavesSixteenBitBytes) {
  const auto model = built("vit-tiny");
  const auto patched = path("vit-tiny-amp-patched.pt");
  auto spec = lora();
  spec.amp = AmpKind::kBf16;
  const auto out = patchModelFile(model, patched, spec, {});
  const auto& s = out.suggested.suggestions;
  const auto c = models::vitTiny();
  const int64_t n = 2 * c.tokens() * c.mlpDim;  // batch 2
  for (int layer = 0; layer < 2; ++layer) {
    const auto& gelu = site(s, "encoder.layer_" + std::to_string(layer) + ".mlp", SiteKind::kGelu);
    EXPECT_EQ(gelu.status, SiteStatus::kSwap) << gelu.why;
    EXPECT_EQ(gelu.savingBytes, n * 2 - (n + 3) / 4);
  }
  EXPECT_TRUE(out.verification.forwardOk)
      << out.verification.toleranceRule << " max diff " << out.verification.maxAbsDiff;
  EXPECT_NE(out.suggested.baseline.info.specJson.find("\"amp\":\"bf16\""), std::string::npos)
      << out.suggested.baseline.info.specJson;
  std::ostringstream report;
  writeRunReport(out.suggested.baseline, ReportFormat::kText, report);
  EXPECT_NE(report.str().find("float32 master weights, bf16 autocast on cpu"), std::string::npos)
      << report.str();
  const auto measured = measurePatched(model, patched, spec, 1);
  const auto record = comparisonRecord(out, measured.timing);
  const auto cmp = comparisonJson(out.suggested.baseline, measured.patched, record);
  int gelus = 0, sharedNorms = 0;
  for (const auto& site : cmp["sites"]) {
    if (site["kind"] == "gelu") {
      ++gelus;
      EXPECT_EQ(site["measured_saving"], site["predicted_saving"]) << site.dump();
      EXPECT_EQ(site["measured_saving"].get<int64_t>(), n * 2 - (n + 3) / 4) << site.dump();
    } else if (site["module"].get<std::string>().rfind("encoder.layer_1.norm", 0) == 0) {
      // Each consumer (fc1 and its LoRA A; q, k, v and theirs) kept its own bf16 copy of the norm's output;
      // the MS-norm writes bf16 itself, so one shared tensor replaces them: more saved than the float32
      // input the norm itself kept, as predicted.
      ++sharedNorms;
      const int64_t rows = 2 * c.tokens(), copy = rows * c.hidden * 2;
      EXPECT_EQ(site["measured_saving"], site["predicted_saving"]) << site.dump();
      EXPECT_GT(site["measured_saving"].get<int64_t>(), 2 * copy) << site.dump();
    }
  }
  EXPECT_EQ(gelus, 2);
  EXPECT_EQ(sharedNorms, 2);
}

TEST_F(SwapWorkflow, PatchAndCompareLoadsEachModelFileOnlyAsOftenAsItsStepsNeed) {
  // A copy of its own, so other tests' loads of the preset do not count.
  const auto model = path("loads.pt");
  fs::copy_file(built("vit-tiny"), model, fs::copy_options::overwrite_existing);
  const auto patched = path("loads-patched.pt");
  fs::remove(patched);
  const auto c =
      patchAndCompare(model, patched, lora(), SwapSelection{}, path("loads.db"), 1, SessionWrite::kReplace);
  EXPECT_TRUE(c.patch.verification.forwardOk);
  // Recorded in forward order, the same on every run (not in the order of the types' addresses).
  const auto& r = c.patch.rewrites;
  ASSERT_GT(r.size(), 2u);
  EXPECT_TRUE(
      std::is_sorted(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.ordinal < b.ordinal; }));
  // The model: profiled and planned from one load, rewritten from a fresh one (the profiled copy trained a
  // step), verified against a third (the original, untouched), which the timing then reuses.
  EXPECT_EQ(modelLoads(model), 3);
  // The patched file: reloaded to verify what was written (reused for the timing), then profiled fresh.
  // Each path by the name it was given: the temporary verified before the rename counts as the patched
  // file's.
  EXPECT_EQ(modelLoads(patched), 1);
}

TEST_F(SwapWorkflow, PatchedModelRecordsItsRewritesAndRefusesASecondPatch) {
  const auto model = built("vit-tiny");
  const auto patched = path("once.pt");
  patchModelFile(model, patched, lora(), {"gelu"});
  auto m = loadModel(patched);
  ASSERT_TRUE(m.hasattr("lowmem_rewrites"));
  EXPECT_EQ(m.attr("lowmem_rewrites").toListRef().size(), 2u);
  // The GELU sites are gone from the patched graph; asking for them again finds nothing to patch.
  try {
    patchModelFile(patched, path("twice.pt"), lora(), {"gelu"});
    FAIL() << "expected a refusal";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("matches no site"), std::string::npos) << e.what();
  }
  // Re-applying a recorded plan to the patched model is refused by the record.
  auto original = loadModel(model);
  auto plans = planSites(original, trainableParameters(original, TrainableSelection::parse("lora")));
  std::vector<SitePlan> gelus;
  for (const auto& p : plans) {
    if (p.site.kind == SiteKind::kGelu) gelus.push_back(p);
  }
  EXPECT_THROW(applyRewrites(m, gelus), InputError);
  EXPECT_FALSE(fs::exists(path("twice.pt")));
  // Never over the input.
  EXPECT_THROW(patchModelFile(model, model, lora(), {}), InputError);
}

// Site planning inlines the forward graph, and LibTorch's inliner reads the process's graph-executor flag
// (callees' optimized graphs when it is on, their raw graphs when off). Whatever mode the caller runs in, the
// plans are the same.
TEST_F(SwapWorkflow, PlansDoNotDependOnTheGraphExecutorFlag) {
  for (const char* preset : {"vit-tiny", "bert-tiny", "llama-tiny"}) {
    std::vector<std::string> plansByMode[2];
    for (int optimize = 0; optimize < 2; ++optimize) {
      const ExecutorModeGuard mode(optimize == 1);
      auto m = loadModel(built(preset));
      for (const auto& p : planSites(m, trainableParameters(m, TrainableSelection::parse("lora")))) {
        plansByMode[optimize].push_back(p.site.modulePath + " " + siteKindName(p.site.kind) + " " +
                                        (p.valid ? "valid" : "invalid: " + p.reason) + ", " +
                                        std::to_string(p.folds.size()) + " folds, " +
                                        std::to_string(p.residualUses) + " residual uses");
      }
    }
    EXPECT_FALSE(plansByMode[1].empty()) << preset;
    EXPECT_EQ(plansByMode[0], plansByMode[1]) << preset;
  }
}

// A deliberately broken fold: one norm's gamma folded from another norm's weight. The forward check catches
// it.
TEST_F(SwapWorkflow, VerificationCatchesABrokenFold) {
  auto original = loadModel(built("vit-tiny"));
  auto patched = loadModel(built("vit-tiny"));
  auto plans = planSites(patched, trainableParameters(patched, TrainableSelection::parse("lora")));
  std::vector<SitePlan> norms;
  for (const auto& p : plans) {
    if (p.site.kind == SiteKind::kLayerNorm && p.unit == plans[2].unit) norms.push_back(p);
  }
  ASSERT_EQ(norms.size(), 2u);
  std::swap(norms[0].gamma, norms[1].gamma);
  const auto broken = applyRewrites(patched, norms);
  const auto c = models::vitTiny();
  std::vector<c10::IValue> inputs{at::randn({2, c.channels, c.imageSize, c.imageSize})};
  const auto v = verifyPatch(original, patched, inputs, TrainableSelection::parse("lora"), {});
  EXPECT_FALSE(v.forwardOk) << v.maxAbsDiff;
  // Saving it is refused: exit code 1, nothing at the destination, no temporary left beside it.
  fs::create_directories(path("broken"));
  Verification outcome;
  try {
    savePatchedModel(built("vit-tiny"), patched, path("broken/model.pt"), lora(), broken.foldedParameters,
                     outcome);
    FAIL() << "a broken fold was saved";
  } catch (const Error& e) {
    EXPECT_EQ(e.exitCode(), ExitCode::kFailure) << e.what();
    EXPECT_NE(std::string(e.what()).find("verification failed, nothing saved"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(outcome.forwardOk);
  EXPECT_EQ(std::distance(fs::directory_iterator(path("broken")), {}), 0);
  // The correct fold passes the same check.
  auto good = loadModel(built("vit-tiny"));
  std::swap(norms[0].gamma, norms[1].gamma);
  applyRewrites(good, norms);
  EXPECT_TRUE(verifyPatch(original, good, inputs, TrainableSelection::parse("lora"), {}).forwardOk);
}

TEST_F(SwapWorkflow, LlamaSmallSharesWithTrainableLoraAAndNotWhenAIsFrozen) {
  const auto model = built("llama-small");
  auto spec = lora();
  const auto withA = suggestForModel(model, spec, {});
  int rms = 0, silu = 0;
  for (const auto& s : withA.suggestions.sites) {
    if (s.plan.site.kind == SiteKind::kSilu) {
      ++silu;
      EXPECT_EQ(s.status, SiteStatus::kSwap);
    }
    if (s.plan.site.kind != SiteKind::kRmsNorm) continue;
    ++rms;
    EXPECT_TRUE(s.plan.valid) << s.why;
    if (s.plan.site.modulePath != "norm") {
      EXPECT_TRUE(s.plan.sharing) << s.plan.site.modulePath;
    }
  }
  const auto c = models::llamaSmall();
  EXPECT_EQ(rms, 2 * c.layers + 1);
  EXPECT_EQ(silu, c.layers);
  // LoRA-FA: A frozen, only B trains. No consumer saves the norm output any more.
  spec.trainable = TrainableSelection::parse("lora_B");
  const auto fa = suggestForModel(model, spec, {});
  for (const auto& s : fa.suggestions.sites) {
    if (s.plan.site.kind != SiteKind::kRmsNorm) continue;
    EXPECT_FALSE(s.plan.sharing) << s.plan.site.modulePath;
    EXPECT_NE(s.plan.reason.find("no consumer saves its output"), std::string::npos) << s.plan.reason;
  }
  // And the LoRA patch verifies, saves, and meets its prediction when profiled again.
  const auto out = patchModelFile(model, path("llama-patched.pt"), lora(), {});
  EXPECT_TRUE(out.verification.forwardOk);
  // Every site but the first layer's input norm: its input comes from frozen embeddings, so nothing is
  // released and it is left as it is (the other layers' input norms, with the same code, are patched).
  EXPECT_EQ(static_cast<int>(out.rewrites.size()), 2 * c.layers + 1 + c.layers - 1 + c.layers);
  EXPECT_EQ(site(out.suggested.suggestions, "layers.layer_0.input_layernorm", SiteKind::kRmsNorm).status,
            SiteStatus::kNoSaving);
  const auto measured = measurePatched(model, path("llama-patched.pt"), lora(), 1);
  const int64_t before = out.suggested.baseline.profile.peak().total;
  const double predictedCut = static_cast<double>(before - out.suggested.suggestions.predictedPeak);
  EXPECT_GT(predictedCut, 0);
  EXPECT_NEAR(static_cast<double>(before - measured.patched.profile.peak().total), predictedCut,
              0.05 * predictedCut);
}

// Node kinds in a module's own forward code (calls not followed).
std::multiset<std::string> kindsIn(const torch::jit::Module& m) {
  std::multiset<std::string> kinds;
  for (const auto* n : m.get_method("forward").graph()->nodes())
    kinds.insert(n->kind() == c10::prim::CallMethod ? "call " + n->input(0)->node()->s(c10::attr::name)
                                                    : n->kind().toQualString());
  return kinds;
}

TEST_F(SwapWorkflow, BertPostLnNormsReapplyTheAffineOnTheirResidualOrSayWhyNot) {
  const auto r = suggestForModel(built("bert-tiny"), lora(), {});
  const auto& s = r.suggestions;
  for (const auto& x : s.sites) {
    if (x.plan.site.kind == SiteKind::kGelu) {
      EXPECT_EQ(x.status, SiteStatus::kSwap);
    }
  }
  EXPECT_NE(site(s, "embeddings.norm", SiteKind::kLayerNorm).why.find("aten::dropout"), std::string::npos);
  // norm1 feeds fc1 (fold into its weight and trainable LoRA A, which shares the saved output) and the
  // residual add in the same layer's code, which takes y * gamma + beta.
  for (const char* layer : {"encoder.layer_0", "encoder.layer_1"}) {
    const auto& norm1 = site(s, std::string(layer) + ".norm1", SiteKind::kLayerNorm);
    EXPECT_EQ(norm1.status, SiteStatus::kSwap) << norm1.why;
    EXPECT_EQ(norm1.plan.residualUses, 1);
    EXPECT_TRUE(norm1.plan.sharing);
    EXPECT_NE(norm1.why.find("re-applied"), std::string::npos) << norm1.why;
  }
  // layer_0.norm2's residual add is in the next layer's code: the affine cannot be re-applied there.
  const auto& inner = site(s, "encoder.layer_0.norm2", SiteKind::kLayerNorm);
  EXPECT_EQ(inner.status, SiteStatus::kInvalid);
  EXPECT_NE(inner.why.find("residual aten::add in encoder.layer_1"), std::string::npos) << inner.why;
  // The last norm2 feeds only the pooler (through a select): valid, so the last layer takes code of its own.
  const auto& last = site(s, "encoder.layer_1.norm2", SiteKind::kLayerNorm);
  EXPECT_TRUE(last.plan.valid) << last.why;
  EXPECT_TRUE(last.chosen);

  const auto out = patchModelFile(built("bert-tiny"), path("bert-patched.pt"), lora(), {});
  EXPECT_TRUE(out.verification.forwardOk);
  auto patched = loadModel(path("bert-patched.pt"));
  const auto layer0 = submoduleAt(patched, "encoder.layer_0");
  const auto layer1 = submoduleAt(patched, "encoder.layer_1");
  EXPECT_NE(layer0.type(), layer1.type());
  const auto k0 = kindsIn(layer0), k1 = kindsIn(layer1);
  EXPECT_EQ(k0.count("call norm2"), 1u);  // still the original LayerNorm in layer 0
  EXPECT_EQ(k1.count("call norm2"), 0u);
  EXPECT_EQ(k0.count("lowmem::ms_layer_norm"), 1u);
  EXPECT_EQ(k1.count("lowmem::ms_layer_norm"), 2u);
  EXPECT_EQ(k0.count("aten::mul"), 1u);  // the re-applied affine on the residual path
  EXPECT_EQ(k0.count("aten::add"), 3u);  // two residuals + beta

  const auto measured = measurePatched(built("bert-tiny"), path("bert-patched.pt"), lora(), 1);
  const double cut = static_cast<double>(out.suggested.baseline.profile.peak().total - s.predictedPeak);
  EXPECT_GT(cut, 0);
  EXPECT_NEAR(static_cast<double>(out.suggested.baseline.profile.peak().total -
                                  measured.patched.profile.peak().total),
              cut, 0.05 * cut);
}

TEST_F(SwapWorkflow, OneInstanceOfSharedCodeIsPatchedAlone) {
  const auto model = built("vit-tiny");
  EXPECT_THROW(suggestForModel(model, lora(), {"relu"}), InputError);
  const auto r = suggestForModel(model, lora(), {"#3", "#7"});
  for (const auto& s : r.suggestions.sites)
    EXPECT_EQ(s.chosen, s.plan.site.kind == SiteKind::kGelu);
  // One block's norm2 and the other block's GELU: both blocks end up with types (and code) of their own.
  const auto out = patchModelFile(model, path("vit-one.pt"), lora(), {"encoder.layer_1.norm2", "#3"});
  EXPECT_TRUE(out.verification.forwardOk);
  ASSERT_EQ(out.rewrites.size(), 2u);
  auto patched = loadModel(path("vit-one.pt"));
  const auto b0 = submoduleAt(patched, "encoder.layer_0"), b1 = submoduleAt(patched, "encoder.layer_1");
  EXPECT_NE(b0.type(), b1.type());
  EXPECT_EQ(kindsIn(b0).count("call norm2"), 1u);
  EXPECT_EQ(kindsIn(b1).count("call norm2"), 0u);
  EXPECT_EQ(kindsIn(submoduleAt(patched, "encoder.layer_0.mlp")).count("lowmem::regelu2"), 1u);
  EXPECT_EQ(kindsIn(submoduleAt(patched, "encoder.layer_1.mlp")).count("aten::gelu"), 1u);
  // Parameters are shared with the module tree, not copied: same names, same count.
  EXPECT_EQ(patched.named_parameters().size(), loadModel(model).named_parameters().size());
}

TEST_F(SwapWorkflow, ThreeBitCodesCostThreeEighthsOfAByteAndUseTheKBitOp) {
  const auto model = built("vit-tiny");
  const auto c = models::vitTiny();
  const int64_t n = 2 * c.tokens() * c.mlpDim;  // fc1's output, batch 2
  const auto out = patchModelFile(model, path("vit-3bit.pt"), {lora()}, SwapSelection({"gelu"}, 3));
  EXPECT_TRUE(out.verification.forwardOk);
  const auto& s = out.suggested.suggestions;
  EXPECT_EQ(site(s, "encoder.layer_0.mlp", SiteKind::kGelu).savingBytes, n * 4 - (n * 3 + 7) / 8);
  ASSERT_EQ(s.predictedPeakByBits.size(), 3u);
  EXPECT_LT(s.predictedPeakByBits.at(2), s.predictedPeakByBits.at(3));
  EXPECT_LT(s.predictedPeakByBits.at(3), s.predictedPeakByBits.at(4));
  EXPECT_EQ(s.predictedPeakByBits.at(3), s.predictedPeak);
  // Two sites of 3-bit codes against two of 2-bit: the peaks differ by exactly the extra bit per element.
  EXPECT_EQ(s.predictedPeakByBits.at(3) - s.predictedPeakByBits.at(2), 2 * ((n * 3 + 7) / 8 - (n + 3) / 4));
  auto patched = loadModel(path("vit-3bit.pt"));
  EXPECT_EQ(kindsIn(submoduleAt(patched, "encoder.layer_0.mlp")).count("lowmem::regelu"), 1u);
  EXPECT_EQ(out.rewrites.front().opName(), "regelu3") << out.rewrites.front().text();
  EXPECT_THROW(suggestForModel(model, lora(), SwapSelection({}, 5)), InputError);
}

TEST_F(SwapWorkflow, SitesInOneCodeArePatchedTogetherOrNotAtAll) {
  torch::jit::Module m("__torch__.TwoGelus");
  m.register_parameter("w", at::randn({8, 8}), false);
  m.define(
      "def forward(self, x):\n    return torch.gelu(torch.linear(torch.gelu(torch.linear(x, self.w)), "
      "self.w))\n");
  const auto file = path("two-gelus.pt");
  m.save(file);
  StepSpec spec;
  spec.trainable = TrainableSelection::parse("all");
  spec.inputs = {parseInputSpec("x:float32[64,8]")};
  const auto all = suggestForModel(file, spec, {});
  ASSERT_EQ(all.suggestions.sites.size(), 2u);
  EXPECT_TRUE(all.suggestions.sites[0].chosen && all.suggestions.sites[1].chosen);
  try {
    suggestForModel(file, spec, {"#0"});
    ADD_FAILURE() << "one of two GELUs in one piece of code was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("select all of them or none"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lowmem
