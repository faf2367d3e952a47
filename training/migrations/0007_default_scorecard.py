"""The rubric that used to be hard-coded in ``training.scoring`` becomes the default scorecard (data)."""

from django.db import migrations


def seed_default(apps, schema_editor):
    from training.scoring import DEFAULT_SCORECARD

    Scorecard = apps.get_model("training", "Scorecard")
    ScorecardCheck = apps.get_model("training", "ScorecardCheck")
    if Scorecard.objects.filter(is_default=True).exists():
        return
    card = Scorecard.objects.create(name=DEFAULT_SCORECARD.name, pass_threshold=DEFAULT_SCORECARD.pass_threshold,
                                    is_default=True)
    order = 0
    for stage in DEFAULT_SCORECARD.stages:
        for check in stage.checks:
            order += 10
            ScorecardCheck.objects.create(scorecard=card, stage=stage.title, label=check.label,
                                          description=check.description, points=check.points, rule=check.rule,
                                          order=order)


def drop_default(apps, schema_editor):
    apps.get_model("training", "Scorecard").objects.filter(is_default=True).delete()


class Migration(migrations.Migration):
    dependencies = [("training", "0006_scorecards_assignments")]
    operations = [migrations.RunPython(seed_default, drop_default)]
